"""Where a rendered page's time goes: a bare Playwright loop over the render benchmark's site,
with each of the choices a renderer makes switched on or off.

``python -m bench.render.variants --pages 200 --concurrency 4`` renders every page of the
site (``bench.render.site``, served by nginx) in Debian's Chromium (the same flags as the
renderer's), ``--concurrency`` pages at a time, once per variant:

- ``context``: ``shared`` (one browser context for all pages, a new tab per page) or
  ``per-page`` (a fresh context per page, as our renderer does: nothing of one page, cookies,
  storage, cache, is seen by the next);
- ``routed``: every request answered from Python (fetched with httpx and fulfilled), as our
  renderer answers the document and fetches the page's other requests itself;
- ``wait``: ``load`` (the load event only), ``networkidle`` (then Playwright's network idle,
  500 ms without requests, at most 2 s: our renderer's wait) or ``quiet`` (then until no
  routed request has been in flight for 100 ms, at most 2 s: possible only when routed,
  since then every request is seen).

A page counts when its serialised DOM holds its marker. Nothing here is our service: the
figures say what each choice costs on this machine, and what Chromium gives at best.
Printed as a table and written to ``bench/results/render_variants.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, Request, Route, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bench.render import site
from bench.render.peer_crawl4ai import CHROMIUM_FLAGS
from bench.scale.site import nginx

__all__ = ["VARIANTS", "Variant", "main"]

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "render_variants.json"
IDLE_WAIT = 2.0
QUIET = 0.1


@dataclass(frozen=True)
class Variant:
    context: str  # "shared" or "per-page"
    routed: bool
    wait: str  # "load", "networkidle" or "quiet"

    @property
    def name(self) -> str:
        return f"{self.context}, {'routed' if self.routed else 'direct'}, {self.wait}"


VARIANTS = (
    Variant("shared", routed=False, wait="load"),
    Variant("per-page", routed=False, wait="load"),
    Variant("per-page", routed=False, wait="networkidle"),
    Variant("per-page", routed=True, wait="networkidle"),  # as our renderer renders
    Variant("shared", routed=True, wait="networkidle"),
    Variant("shared", routed=True, wait="quiet"),
)


class _Traffic:
    """Routed requests of one tab: how many are in flight, and since when none is."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.quiet_since = time.monotonic()

    async def quiet(self, window: float, limit: float) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.in_flight == 0 and time.monotonic() - self.quiet_since >= window:
                return
            await asyncio.sleep(0.02)


async def _route(client: httpx.AsyncClient, traffic: _Traffic, route: Route, req: Request) -> None:
    traffic.in_flight += 1
    try:
        answer = await client.get(req.url)
        await route.fulfill(
            status=answer.status_code,
            headers={"content-type": answer.headers.get("content-type", "text/html")},
            body=answer.content,
        )
    finally:
        traffic.in_flight -= 1
        traffic.quiet_since = time.monotonic()


async def _render_one(
    variant: Variant, browser: Browser, shared: BrowserContext, client: httpx.AsyncClient, url: str
) -> str:
    context = shared if variant.context == "shared" else await browser.new_context()
    traffic = _Traffic()
    page: Page | None = None
    try:
        page = await context.new_page()
        if variant.routed:
            await page.route("**/*", lambda r, q: _route(client, traffic, r, q))
        await page.goto(url, wait_until="load")
        if variant.wait == "networkidle":
            # A page that never goes quiet is taken as it is then.
            with contextlib.suppress(PlaywrightTimeoutError):
                await page.wait_for_load_state("networkidle", timeout=IDLE_WAIT * 1000)
        elif variant.wait == "quiet":
            await traffic.quiet(QUIET, IDLE_WAIT)
        return await page.content()
    finally:
        if page is not None:
            await page.close()
        if context is not shared:
            await context.close()


async def run_variant(
    variant: Variant, urls: list[str], concurrency: int, chromium: str
) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    rendered = 0
    async with (
        async_playwright() as playwright,
        httpx.AsyncClient(limits=httpx.Limits(max_connections=4 * concurrency)) as client,
    ):
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_FLAGS, headless=True
        )
        shared = await browser.new_context()

        async def one(i: int, url: str) -> None:
            nonlocal rendered
            async with gate:
                html = await _render_one(variant, browser, shared, client, url)
            rendered += site.marker(i) in html

        started = time.perf_counter()
        await asyncio.gather(*(one(i, u) for i, u in enumerate(urls)))
        seconds = time.perf_counter() - started
        await browser.close()
    return {
        "variant": variant.name,
        "pages": len(urls),
        "rendered": rendered,
        "seconds": round(seconds, 2),
        "rendered_per_s": round(rendered / seconds, 2),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    began = datetime.now(UTC)
    directory = ROOT / ".local" / f"bench-render-site-{args.pages}"
    site.generate(directory, args.pages)
    results = []
    with nginx(directory) as base:
        urls = site.page_urls(base, args.pages)
        for variant in VARIANTS:
            results.append(asyncio.run(run_variant(variant, urls, args.concurrency, args.chromium)))
            r = results[-1]
            print(
                f"{r['variant']:<36} {r['rendered']:>5}/{r['pages']} {r['seconds']:>7.1f} s "
                f"{r['rendered_per_s']:>7.2f} pages/s",
                flush=True,
            )
    RESULTS.write_text(
        json.dumps(
            {
                "measured_at": began.strftime("%Y-%m-%d %H:%M UTC"),
                "concurrency": args.concurrency,
                "variants": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
