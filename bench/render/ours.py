"""Our side of the render benchmark: a crawl of the JavaScript site with ``render: "always"``
through the services as processes (``crawl_stack``: API, status service, crawler, renderer).

The crawler fetches each page and asks the renderer to render it; the renderer's Chromium is
given the fetched HTML for the navigation and loads the page's script and data itself. Pages
rendered at once: the renderer's ``CRAWL_RENDERER_CONCURRENCY`` (one renderer process);
the crawler's own concurrency is the same, so neither side has more pages in flight.

Time: the job's ``started_at`` to ``finished_at`` (the crawler's clock: its first page to its
terminal event), and also from ``POST`` to ``completed`` visible over the API. Correctness:
every stored page's Markdown (``pages.jsonl``) searched for its marker. Memory: the renderer's
process tree (its Python process and its Chromium), every second (``bench.render.memory``).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.render import site
from bench.render.memory import TreeMemory, flatness
from crawl_stack import Stack, private_services, running_stack, wait_finished

__all__ = ["renderer_pid", "run_ours"]


def renderer_pid(stack: Stack) -> int:
    """The renderer's process (the stack names it ``renderer`` or ``renderer-<n>``)."""
    found = [p.pid for name, p in stack.processes.items() if name.startswith("renderer")]
    if len(found) != 1:
        raise RuntimeError(f"expected one renderer process, the stack runs {list(stack.processes)}")
    return found[0]


def _env(concurrency: int, chromium: str) -> dict[str, str]:
    return {
        "CRAWL_WORKER_CONCURRENCY": str(concurrency),
        "CRAWL_WORKER_PER_HOST_CONCURRENCY": str(concurrency),
        "CRAWL_WORKER_EXTRACT_PROCESSES": "1",
        "CRAWL_RENDERER_CONCURRENCY": str(concurrency),
        "CRAWL_RENDERER_CHROMIUM_PATH": chromium,
        "CRAWL_WORKER_LOG_LEVEL": "WARNING",
        "CRAWL_RENDERER_LOG_LEVEL": os.environ.get("BENCH_RENDERER_LOG_LEVEL", "WARNING"),
        "CRAWL_STATUS_LOG_LEVEL": "WARNING",
        "CRAWL_API_LOG_LEVEL": "WARNING",
    }


def _stored_pages(client: httpx.Client, location: str) -> list[dict[str, Any]]:
    fields = "url,outcome,reason,rendered,markdown"
    with client.stream(
        "GET", f"{location}/pages.jsonl", params={"fields": fields}, timeout=300
    ) as response:
        response.raise_for_status()
        return [json.loads(line) for line in response.iter_lines() if line.strip()]


def _page_number(base: str, url: str) -> int | None:
    path = urlsplit(url).path
    if url.rstrip("/") == base.rstrip("/"):
        return 0
    if path.startswith("/p/") and path.endswith(".html") and path[3:-5].isdigit():
        return int(path[3:-5])
    return None


def run_ours(
    base: str, pages: int, concurrency: int, chromium: str, amqp: str, management: str, mongo: str
) -> dict[str, Any]:
    """Crawl the site at ``base`` (``pages`` pages) through a fresh stack; the figures."""
    request = {
        "url": base,
        "max_pages": pages,
        "max_depth": site.depth(pages),
        "render": "always",
    }
    with (
        private_services(amqp, management, mongo, prefix="bench") as services,
        running_stack(services, extra_env=_env(concurrency, chromium)) as stack,
    ):
        client = httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=30)
        memory = TreeMemory(renderer_pid(stack))
        memory.start()
        load_before = [round(x, 2) for x in os.getloadavg()]
        started = time.perf_counter()
        location = client.post("/api/v1/crawls", json=request).headers["Location"]
        job = wait_finished(client, location, timeout=max(600, 3 * pages))
        wall = time.perf_counter() - started
        samples = memory.stop()
        stored = _stored_pages(client, location)
        client.close()
    if job["status"] != "completed":
        raise RuntimeError(f"our crawl ended {job['status']}: {job.get('error')}")
    seconds = (
        datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    ).total_seconds()
    fetched = [p for p in stored if p["outcome"] == "fetched"]
    marked = 0
    missing: list[str] = []
    for page in fetched:
        number = _page_number(base, page["url"])
        if number is not None and site.marker(number) in (page.get("markdown") or ""):
            marked += 1
        elif len(missing) < 10:
            missing.append(page["url"])
    outcomes = Counter(
        f"{p['outcome']}/{p['reason']}" if p.get("reason") else p["outcome"] for p in stored
    )
    return {
        "pages": len(fetched),
        "rendered_flag": sum(1 for p in fetched if p.get("rendered")),
        "rendered": marked,
        "seconds": round(seconds, 3),
        "pages_per_s": round(len(fetched) / seconds, 2),
        "rendered_per_s": round(marked / seconds, 2),
        "wall_seconds_submit_to_completed_visible": round(wall, 2),
        "counters": job["counters"],
        "outcomes": dict(sorted(outcomes.items())),
        "missing_marker": missing,
        "load_before": load_before,
        "memory": flatness(samples),  # the renderer and its Chromium
        "request": request,
        "concurrency": concurrency,
    }
