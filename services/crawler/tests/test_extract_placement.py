"""Where a page is extracted: small ones in the event loop, larger ones in the pool."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from crawl_worker.extraction import LocalExtractor
from crawl_worker.settings import WorkerSettings

SMALL = b"<html><head><title>t</title></head><body><p>" + b"word " * 100 + b"</p></body></html>"


class CountingPool(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


async def test_small_pages_are_extracted_in_the_loop_and_larger_ones_in_the_pool() -> None:
    pool = CountingPool()
    extractor = LocalExtractor(WorkerSettings(inline_extract_bytes=4096), pool)
    try:
        assert not extractor.in_pool(SMALL)
        assert (await extractor.extract(SMALL, "http://127.0.0.1:9/")).title == "t"
        assert pool.submitted == 0
        large = SMALL.replace(b"word ", b"word " * 10)
        assert len(large) > 4096
        assert extractor.in_pool(large)
        assert (await extractor.extract(large, "http://127.0.0.1:9/")).title == "t"
        assert pool.submitted == 1
    finally:
        pool.shutdown()
