"""Where a page is extracted: in this process, or by any crawler through the extraction queue.

``LocalExtractor`` extracts here: pages up to ``inline_extract_bytes`` in the event loop
(cheaper than any hand-off), larger ones and every document in the extraction process pool,
within ``extract_timeout``. It is what a crawler serving the queue runs, too.

``JobExtractor`` is one crawl's extract port. A page worth the pool goes to the
``crawler.extract`` work queue (``ExtractClient``) while another crawler serves it, and the
answer, from whichever crawler took the request (this one included), stands for the local
extraction: the same fields, or the same failure. The page is extracted here instead when no
other crawler serves the queue, when no answer comes within ``extract_remote_timeout``, or
when sharing is off. Everything else about the crawl (frontier, politeness, ledger, counters,
cancel, checkpoints) stays with the crawl that owns the job: a remote extraction is a
function call that happens to run elsewhere.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from concurrent.futures import Executor, ProcessPoolExecutor
from functools import partial

from crawl_contracts import CrawlRequested
from crawl_runtime import die_with_parent
from crawl_worker import observability
from crawl_worker.documents import is_pdf
from crawl_worker.extract import Extracted, extract_page
from crawl_worker.extractclient import ExtractClient, extracted_from
from crawl_worker.settings import WorkerSettings

__all__ = ["JobExtractor", "LocalExtractor"]

_WARM_PAGE = b"<html><p>warm</p></html>"


def _pool_process(parent: int) -> None:
    """An extraction process ends with its crawler, never before it: a stop signal sent to
    the crawler's whole process group (Ctrl-C, ``deploy/stack.sh down``) leaves it to finish
    the pages of the crawls being handed back."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


class LocalExtractor:
    """Extraction in this process and its pool (``start`` makes the pool unless one was
    given, ``close`` ends it)."""

    def __init__(self, settings: WorkerSettings, pool: Executor | None = None) -> None:
        self._inline_bytes = settings.inline_extract_bytes
        self._timeout = settings.extract_timeout
        self.processes = settings.extract_processes or os.cpu_count() or 1
        self._pool = pool

    def in_pool(self, body: bytes) -> bool:
        """Whether ``body`` is extracted in the pool (so worth sending elsewhere, too)."""
        return len(body) > self._inline_bytes or is_pdf(body)

    async def start(self) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                # A crawler killed with SIGKILL takes its extraction processes with it.
                initializer=_pool_process,
                initargs=(os.getpid(),),
            )
        # Warm the pool so the first pages do not pay for importing trafilatura.
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(
                loop.run_in_executor(self._pool, extract_page, _WARM_PAGE, "http://w/")
                for _ in range(self.processes)
            )
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def extract(self, body: bytes, url: str) -> Extracted:
        """Extract a fetched page: in the event loop up to ``inline_extract_bytes``, else in
        the extraction pool, within ``extract_timeout`` (``TimeoutError`` past it). A document
        always goes to the pool: native code reading hostile input stays out of this process.

        A page past its time limit leaves its pool process busy until it finishes: the crawl
        goes on, the pool has one process fewer meanwhile."""
        if not self.in_pool(body):
            return extract_page(body, url)  # cheaper than the hand-off to the pool
        assert self._pool is not None, "start() first"
        async with asyncio.timeout(self._timeout):
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, partial(extract_page, body, url)
            )


class JobExtractor:
    """The extract port of one crawl: through the queue when another crawler serves it,
    else here. ``client`` ``None``: always here (sharing off)."""

    def __init__(
        self, local: LocalExtractor, client: ExtractClient | None, command: CrawlRequested
    ) -> None:
        self._local = local
        self._client = client
        self._command = command

    async def __call__(self, body: bytes, url: str) -> Extracted:
        if self._client is not None and self._local.in_pool(body):
            reply = await self._client.extract(self._command, url, body)
            if reply is not None:
                observability.extracted("remote")
                return extracted_from(reply)  # or its failure, raised as a local one would be
        try:
            extracted = await self._local.extract(body, url)
        except asyncio.CancelledError:
            raise  # the visit was cancelled: nothing ran to an end
        except BaseException:
            observability.extracted("local")  # a failure to extract is an extraction too
            raise
        observability.extracted("local")
        return extracted
