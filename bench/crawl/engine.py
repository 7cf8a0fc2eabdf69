"""The crawl engine alone on the same site: no broker, no database, events counted and dropped.

``uv run python -m bench.crawl.engine [CONCURRENCY] [CORPUS]`` serves a corpus of
``bench.crawl.run`` (default python3.11-doc) like it and runs ``Crawl`` in-process with the
real fetcher and an extraction pool of ``os.cpu_count()`` processes. It shows what the
crawler can do when the rest of the stack (RabbitMQ, status projection, database) takes no
CPU from it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

import httpx

from bench.crawl.run import CORPORA, MAX_DEPTH, MAX_PAGES, static_site
from crawl_contracts import CrawlRequest, CrawlRequested
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.extract import Extracted, extract_page
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.robots import RobotsCache
from crawl_worker.safety import AddressGuard


class CountingSink:
    def __init__(self) -> None:
        self.events = 0

    async def emit(self, event: Any) -> None:
        self.events += 1


async def crawl(base: str, concurrency: int) -> None:
    processes = os.cpu_count() or 1
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    loop = asyncio.get_running_loop()
    warm = b"<html><body><p>warm</p></body></html>"
    await asyncio.gather(
        *(loop.run_in_executor(pool, extract_page, warm, "http://w/") for _ in range(processes))
    )

    async def extract(body: bytes, url: str) -> Extracted:
        return await loop.run_in_executor(pool, partial(extract_page, body, url))

    async with httpx.AsyncClient(
        headers={"Accept-Encoding": "gzip, deflate"}, trust_env=False
    ) as client:
        fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
        sink = CountingSink()
        command = CrawlRequested(
            job_id="bench",
            tenant="bench",
            request=CrawlRequest(url=base, max_pages=MAX_PAGES, max_depth=MAX_DEPTH),
        )
        ports = CrawlPorts(fetcher, RobotsCache(fetcher.fetch_text, "bench"), extract, sink)
        started = time.perf_counter()
        terminal = await Crawl(command, ports, worker_id="bench", concurrency=concurrency).run()
        seconds = time.perf_counter() - started
    pool.shutdown()
    fetched = terminal.counters.fetched
    print(f"engine alone: {fetched} pages in {seconds:.1f} s = {fetched / seconds:.2f} pages/s")
    print(f"events: {sink.events}; counters: {terminal.counters.model_dump()}")


def main() -> None:
    concurrency = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    corpus = CORPORA[sys.argv[2] if len(sys.argv) > 2 else "python3.11-doc"]
    with static_site(corpus.directory) as (base, _):
        asyncio.run(crawl(base, concurrency))


if __name__ == "__main__":
    main()
