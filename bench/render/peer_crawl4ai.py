"""The peer of the render benchmark: Crawl4AI's crawler over a list of URLs, in Debian's
Chromium.

Run with the Python of Crawl4AI's own virtual environment (``bench/render/run.sh`` makes it;
Crawl4AI is not a dependency of the workspace), so this file imports nothing of ours::

    python bench/render/peer_crawl4ai.py PAGES.json RESULT.json --concurrency 4

``PAGES.json`` is a list of ``[url, marker]`` pairs. Crawl4AI has no setting for a browser
binary; it drives a browser it did not start over the DevTools protocol
(``BrowserConfig(browser_mode="cdp", cdp_url=...)``). So this script starts ``--chromium``
headless with ``--remote-debugging-port`` as its own child (the harness measures the two as
one process tree), then crawls every URL with ``AsyncWebCrawler.arun_many`` under a
``SemaphoreDispatcher`` of ``--concurrency``, no cache (``CacheMode.BYPASS``), no screenshot,
no PDF. Crawl4AI turns each page into Markdown; a page counts as rendered when its Markdown
holds its marker.

It writes ``RESULT.json``: pages, pages that succeeded, pages whose Markdown holds their
marker, seconds (``arun_many``'s first call to its last result; the browser's start and the
connection to it before), pages/s, and the versions used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

# The same command-line flags as our renderer's and the dashboard test's headless Chromium.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_chromium(binary: str, profile: str) -> tuple[subprocess.Popen[bytes], str]:
    """Chromium headless with a DevTools port; the process and its ``http://`` endpoint."""
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            *CHROMIUM_FLAGS,
            f"--remote-debugging-port={port}",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(150):
        if process.poll() is not None:
            raise RuntimeError(f"{binary} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/json/version", timeout=1) as answer:
                json.load(answer)
        except OSError:
            time.sleep(0.1)
        else:
            return process, endpoint
    process.kill()
    raise RuntimeError(f"{binary} did not open its DevTools port {port}")


async def crawl(
    pages: list[tuple[str, str]], endpoint: str, args: argparse.Namespace
) -> dict[str, Any]:
    from crawl4ai import (  # type: ignore[import-not-found]  # noqa: PLC0415 - only in Crawl4AI's environment
        AsyncWebCrawler,
        BrowserConfig,
        CacheMode,
        CrawlerRunConfig,
        SemaphoreDispatcher,
    )

    # create_isolated_context: Crawl4AI's setting for concurrent crawls over one CDP browser
    # (one context of its own, a new page per URL); without it, pages of the browser's default
    # context are shared between crawls, and at 4 at a time 15-20 % of them failed with
    # "Target page, context or browser has been closed".
    browser = BrowserConfig(
        browser_mode="cdp",
        cdp_url=endpoint,
        create_isolated_context=True,
        headless=True,
        verbose=False,
    )
    run = CrawlerRunConfig(
        cache_mode=CacheMode.BYPASS,
        screenshot=False,
        pdf=False,
        wait_until=args.wait_until,
        wait_for=args.wait_for,
        page_timeout=args.page_timeout_ms,
        verbose=False,
    )
    dispatcher = SemaphoreDispatcher(
        semaphore_count=args.concurrency, max_session_permit=args.concurrency
    )
    markers = dict(pages)
    succeeded = rendered = 0
    failures: list[str] = []
    async with AsyncWebCrawler(config=browser) as crawler:
        started = time.perf_counter()
        results = await crawler.arun_many(
            [url for url, _ in pages], config=run, dispatcher=dispatcher
        )
        # A list (SemaphoreDispatcher does not stream): the time ends with the last page.
        for result in results:
            markdown = str(result.markdown or "") if result.success else ""
            succeeded += bool(result.success)
            if markers.get(result.url, "\0") in markdown:
                rendered += 1
            elif len(failures) < 10:
                failures.append(f"{result.url}: {result.error_message or 'marker missing'}")
        seconds = time.perf_counter() - started
    return {
        "pages": len(pages),
        "succeeded": succeeded,
        "rendered": rendered,
        "seconds": round(seconds, 3),
        "pages_per_s": round(len(pages) / seconds, 2),
        "rendered_per_s": round(rendered / seconds, 2),
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("pages", type=Path, help="JSON list of [url, marker]")
    parser.add_argument("out", type=Path, help="where the result goes (JSON)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--wait-until", default="domcontentloaded")
    parser.add_argument("--wait-for", default=None, help="Crawl4AI's wait_for (css:... / js:...)")
    parser.add_argument("--page-timeout-ms", type=int, default=30_000)
    args = parser.parse_args()
    pages = [(url, mark) for url, mark in json.loads(args.pages.read_text())]
    profile = tempfile.mkdtemp(prefix="bench-crawl4ai-chromium-")
    home = tempfile.mkdtemp(prefix="bench-crawl4ai-home-")
    os.environ["CRAWL4_AI_BASE_DIRECTORY"] = home  # its log and cache database, not in ~
    os.environ["CRAWL4AI_NO_CLOUD_NOTICE"] = "1"
    chromium, endpoint = start_chromium(args.chromium, profile)
    try:
        result = asyncio.run(crawl(pages, endpoint, args))
    finally:
        chromium.terminate()
        try:
            chromium.wait(10)
        except subprocess.TimeoutExpired:
            chromium.kill()
            chromium.wait()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    from importlib.metadata import version  # noqa: PLC0415

    result |= {
        "crawl4ai": version("crawl4ai"),
        "playwright": version("playwright"),
        "chromium": subprocess.run(
            [args.chromium, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "python": sys.version.split()[0],
        "concurrency": args.concurrency,
        "wait_until": args.wait_until,
        "wait_for": args.wait_for,
    }
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
