"""One crawl: a breadth-first frontier worked by a few concurrent fetchers.

Scope (same site, subdomains, include / exclude patterns) and the frontier live in
``frontier.py``; politeness and safety live in the fetcher. Sitemaps seed the frontier at the
start (``sitemap``: include / skip / only); a page whose ``<link rel=canonical>`` names
another in-scope URL is recorded as ``non_canonical`` and the canonical URL is crawled instead;
pages whose extracted text was already seen are recorded as ``duplicate``.

The engine receives its ports (fetcher, robots, extractor, event sink) as parameters and
knows nothing of RabbitMQ, so unit tests drive it with fakes.

Counter invariant, kept at every emitted event::

    discovered == queued + in_flight + fetched + failed + skipped
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import structlog

from crawl_contracts import (
    Counters,
    CrawlCancelled,
    CrawlCompleted,
    CrawlFailed,
    CrawlLogged,
    CrawlProgressed,
    CrawlRequested,
    CrawlStarted,
    Envelope,
    Outcome,
    PageRecorded,
    SkippedUrl,
    StopReason,
    UrlsSkipped,
)
from crawl_contracts.models import SitemapMode
from crawl_worker.extract import Extracted
from crawl_worker.fetch import FetchResult
from crawl_worker.frontier import Frontier, Scope
from crawl_worker.robots import RobotsCache
from crawl_worker.sitemap import read_sitemaps
from crawl_worker.urls import normalize_url, resolve_link

__all__ = ["Crawl", "CrawlPorts", "EventSink", "Extractor", "PageFetcher"]

log = structlog.get_logger("crawl_worker.crawl")

Extractor = Callable[[bytes, str], Awaitable[Extracted]]
_E = TypeVar("_E", bound=Envelope)
_MAX_UNCONFIRMED = 256  # events published but not yet confirmed by the broker
# Skips decided without a request are recorded in batches (UrlsSkipped): a crawl discovers
# many more such links (most of them to other sites) than it fetches pages. A batch goes out
# when full, with each progress event, and before the terminal event.
_BATCHED_SKIPS = frozenset({"out_of_scope", "depth_limit", "page_limit"})
_SKIP_BATCH = 200


class EventSink(Protocol):
    async def emit(self, event: Any) -> None: ...


class PageFetcher(Protocol):
    async def fetch(self, url: str, in_scope: Callable[[str], bool] = ...) -> FetchResult: ...

    async def fetch_bytes(self, url: str) -> tuple[int | None, bytes]: ...


@dataclass(frozen=True, slots=True)
class CrawlPorts:
    fetcher: PageFetcher
    robots: RobotsCache
    extract: Extractor
    sink: EventSink


@dataclass(slots=True)
class _Count:
    discovered: int = 0
    queued: int = 0
    in_flight: int = 0
    fetched: int = 0
    failed: int = 0
    skipped: int = 0

    def snapshot(self) -> Counters:
        return Counters(
            discovered=self.discovered,
            queued=self.queued,
            in_flight=self.in_flight,
            fetched=self.fetched,
            failed=self.failed,
            skipped=self.skipped,
        )


class Crawl:
    """Runs one job to its terminal event. ``cancel()`` stops it promptly."""

    def __init__(
        self,
        command: CrawlRequested,
        ports: CrawlPorts,
        *,
        worker_id: str,
        concurrency: int = 8,
        progress_interval: float = 0.25,
        attempt: int = 1,
    ) -> None:
        self.command = command
        self.request = command.request
        self._ports = ports
        self._worker_id = worker_id
        self._concurrency = concurrency
        self._progress_interval = progress_interval
        self._attempt = attempt
        self._seq = 0
        self._skips: list[SkippedUrl] = []
        # Held from numbering to publishing: events reach the broker in ``seq`` order, so
        # consumers (the projection, live event streams) see each job's events in order.
        self._count = _Count()
        self._frontier = Frontier()
        self._seen: set[str] = self._frontier.seen
        self._in_flight: set[str] = set()
        self._active = 0  # workers inside _visit: the crawl is over when 0 and frontier empty
        self._hashes: dict[str, str] = {}
        self._outbox: set[asyncio.Task[None]] = set()
        self._unconfirmed = asyncio.Semaphore(_MAX_UNCONFIRMED)
        self._publish_error: BaseException | None = None
        self._changed = asyncio.Condition()
        self._cancelled = asyncio.Event()
        self._last_progress = 0.0
        self._page_limited = False
        self.start_url = normalize_url(self.request.url)
        self._scope = Scope.build(
            self.start_url,
            allow_subdomains=self.request.allow_subdomains,
            include=self.request.include,
            exclude=self.request.exclude,
        )

    # -- public --------------------------------------------------------------------------

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def counters(self) -> Counters:
        return self._count.snapshot()

    async def run(self) -> CrawlCompleted | CrawlFailed | CrawlCancelled:
        """Crawl until the frontier is exhausted, a limit is reached, or ``cancel()``."""
        # Not held for its confirm: events go out on one channel in order, a consumer orders
        # them by ``seq`` anyway, and the command is acked once any event is confirmed.
        await self._emit(CrawlStarted, worker_id=self._worker_id)
        # The first progress event comes one interval in: a crawl shorter than that is told
        # by its terminal event, which carries the same counters.
        self._last_progress = time.monotonic()
        self._discover(self.start_url, 0)
        workers = [asyncio.create_task(self._work_all())]
        cancel_wait = asyncio.create_task(self._cancelled.wait())
        try:
            done_all: asyncio.Future[Any] = asyncio.gather(*workers)
            await asyncio.wait([done_all, cancel_wait], return_when=asyncio.FIRST_COMPLETED)
            if self._cancelled.is_set():
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                return await self._finish_cancelled()
            done_all.result()  # re-raise a worker's unexpected error
        except Exception as exc:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            log.exception("crawl.error")
            return await self._terminal(
                CrawlFailed, error_code="internal_error", error=repr(exc)[:1000]
            )
        finally:
            cancel_wait.cancel()
        while self._frontier:  # unfetched because of max_pages
            url, depth = self._frontier.popleft()
            self._count.queued -= 1
            await self._record_skip(url, depth, "page_limit")
        reason = StopReason.PAGE_LIMIT if self._page_limited else StopReason.EXHAUSTED
        return await self._terminal(CrawlCompleted, stop_reason=reason)

    # -- workers -------------------------------------------------------------------------

    def _budget_left(self) -> bool:
        c = self._count
        return c.fetched + c.failed + c.in_flight < self.request.max_pages

    async def _work_all(self) -> None:
        """Seed from sitemaps, then work the frontier; cancelling this cancels every worker."""
        # Sitemap URLs are at depth 1: with ``max_depth`` 0 every one would be skipped.
        if self.request.sitemap is not SitemapMode.SKIP and self.request.max_depth > 0:
            await self._read_sitemaps()
        tasks = [asyncio.create_task(self._work()) for _ in range(self._concurrency)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            async with self._changed:
                while not (self._frontier and self._budget_left()):
                    if self._active == 0:
                        if self._frontier:
                            self._page_limited = True
                        self._changed.notify_all()
                        return
                    await self._changed.wait()
                url, depth = self._frontier.popleft()
                self._count.queued -= 1
                self._count.in_flight += 1
                self._in_flight.add(url)
                self._active += 1
            try:
                await self._visit(url, depth)
            except asyncio.CancelledError:
                if url in self._in_flight:
                    # Cancelled mid-fetch: recorded as skipped, so the counters stay whole.
                    self._settle(url)
                    await asyncio.shield(self._record_skip(url, depth, "cancelled"))
                raise
            finally:
                self._active -= 1
            async with self._changed:
                self._changed.notify_all()

    def _settle(self, url: str) -> None:
        """The URL leaves ``in_flight``; the caller records its outcome next."""
        self._in_flight.discard(url)
        self._count.in_flight -= 1

    async def _visit(self, url: str, depth: int) -> None:
        ports = self._ports
        if not await ports.robots.allowed(url):
            self._settle(url)
            await self._record_skip(url, depth, "robots")
            return
        result = await ports.fetcher.fetch(url, self._in_scope)
        if result.outcome is not Outcome.FETCHED or result.body is None:
            self._settle(url)
            await self._record(url, depth, result)
            return
        base = result.final_url or url
        try:
            page = await ports.extract(result.body, base)
        except Exception as exc:
            self._settle(url)
            failed = FetchResult(
                Outcome.FAILED,
                "extraction_error",
                result.http_status,
                base,
                result.content_type,
                attempts=result.attempts,
            )
            await self._record(url, depth, failed)
            await self._log("warning", f"extraction failed for {url}: {exc!r}"[:500])
            return
        canonical = self._canonical(page, base, url)
        if canonical is not None:
            self._settle(url)
            await self._record(
                url,
                depth,
                FetchResult(
                    Outcome.SKIPPED,
                    "non_canonical",
                    result.http_status,
                    canonical,
                    result.content_type,
                    attempts=result.attempts,
                ),
            )
            await self._found(canonical, depth)
            return
        duplicate_of = self._hashes.get(page.content_hash) if page.content_hash else None
        self._settle(url)
        if base != url:
            self._seen.add(base)  # the redirect target is known; not a new discovery
        if duplicate_of is not None:
            await self._record(
                url,
                depth,
                FetchResult(
                    Outcome.SKIPPED,
                    "duplicate",
                    result.http_status,
                    base,
                    result.content_type,
                    attempts=result.attempts,
                ),
            )
            return
        if page.content_hash:
            self._hashes[page.content_hash] = url
        await self._record(url, depth, result, page)
        if self.request.sitemap is SitemapMode.ONLY:
            return
        link_base = resolve_link(base, page.base) if page.base else base
        for href in page.links:
            link = resolve_link(link_base or base, href)
            if link is not None:
                await self._found(link, depth + 1)

    def _in_scope(self, url: str) -> bool:
        return self._scope(url)

    def _canonical(self, page: Extracted, base: str, url: str) -> str | None:
        """The in-scope canonical URL of a page when it is another URL, else ``None``."""
        if not page.canonical:
            return None
        canonical = resolve_link(base, page.canonical)
        if canonical is None or canonical in (url, base) or not self._in_scope(canonical):
            return None
        return canonical

    async def _read_sitemaps(self) -> None:
        """Seed the frontier (depth 1) with the start host's sitemap URLs."""
        origin = self.start_url.split("/", 3)
        roots = await self._ports.robots.sitemaps(self.start_url)
        roots.append(f"{origin[0]}//{origin[2]}/sitemap.xml")
        try:
            urls = await read_sitemaps(
                self._ports.fetcher.fetch_bytes, roots, max_urls=self.request.max_pages
            )
        except Exception as exc:  # sitemaps only add URLs; a crawl works without them
            await self._log("warning", f"sitemaps unreadable: {exc!r}"[:500])
            return
        for raw in urls:
            try:
                link = normalize_url(raw)
            except ValueError:
                continue
            await self._found(link, 1)

    async def _found(self, url: str, depth: int) -> None:
        if url in self._seen:
            return
        if not self._in_scope(url):
            self._seen.add(url)
            self._count.discovered += 1
            await self._record_skip(url, depth, "out_of_scope")
        elif depth > self.request.max_depth:
            self._seen.add(url)
            self._count.discovered += 1
            await self._record_skip(url, depth, "depth_limit")
        else:
            self._discover(url, depth)

    def _discover(self, url: str, depth: int) -> None:
        self._seen.add(url)
        self._count.discovered += 1
        self._count.queued += 1
        self._frontier.append((url, depth))

    # -- events --------------------------------------------------------------------------

    async def _record_skip(self, url: str, depth: int, reason: str) -> None:
        if reason not in _BATCHED_SKIPS:
            await self._record(url, depth, FetchResult(Outcome.SKIPPED, reason, attempts=0))
            return
        self._count.skipped += 1
        self._skips.append(SkippedUrl(url=url, depth=depth, reason=reason))
        if len(self._skips) >= _SKIP_BATCH:
            await self._flush_skips()

    async def _flush_skips(self) -> None:
        """Send the batched skips (one ``UrlsSkipped``, one sequence number per URL)."""
        if not self._skips:
            return
        batch, self._skips = self._skips, []
        await self._emit(UrlsSkipped, urls=batch, _seqs=len(batch))

    async def _record(
        self, url: str, depth: int, result: FetchResult, page: Extracted | None = None
    ) -> None:
        match result.outcome:
            case Outcome.FETCHED:
                self._count.fetched += 1
            case Outcome.FAILED:
                self._count.failed += 1
            case Outcome.SKIPPED:
                self._count.skipped += 1
        await self._emit(
            PageRecorded,
            url=url,
            outcome=result.outcome,
            reason=result.reason,
            http_status=result.http_status,
            depth=depth,
            attempts=result.attempts,
            final_url=result.final_url if result.final_url != url else None,
            content_type=result.content_type,
            title=page.title if page else None,
            language=page.language if page else None,
            description=page.description if page else None,
            markdown=page.markdown if page else None,
            content_hash=page.content_hash if page else None,
        )
        now = time.monotonic()
        if now - self._last_progress >= self._progress_interval:
            self._last_progress = now
            await self._flush_skips()
            await self._emit(CrawlProgressed, counters=self._count.snapshot())

    async def _log(self, level: str, message: str) -> None:
        await self._emit(CrawlLogged, level=level, message=message)

    async def _finish_cancelled(self) -> CrawlCancelled:
        while self._frontier:
            url, depth = self._frontier.popleft()
            self._count.queued -= 1
            await self._record_skip(url, depth, "cancelled")
        return await self._terminal(CrawlCancelled)

    async def _terminal(self, cls: type[_E], **fields: Any) -> _E:
        # Every earlier event is confirmed before the terminal one is sent, so a consumer
        # that applies a job's messages in delivery order sees the pages before the end.
        await self._flush_skips()
        await self._drain()
        return await self._emit(cls, counters=self._count.snapshot(), _wait=True, **fields)

    async def _emit(
        self, cls: type[_E], *, _wait: bool = False, _seqs: int = 1, **fields: Any
    ) -> _E:
        """Build the next event and hand it to the sink.

        Events are published concurrently (up to ``_MAX_UNCONFIRMED`` awaiting their broker
        confirmation), because one confirmed publish at a time caps a crawl at the broker's
        confirm latency. Consumers order by ``seq``, not by arrival; ``_wait`` sends one
        event alone, after all before it.
        """
        if self._publish_error is not None:
            raise self._publish_error
        event = cls(
            job_id=self.command.job_id,
            tenant=self.command.tenant,
            correlation_id=self.command.message_id,
            attempt=self._attempt,
            seq=self._seq + 1,
            **fields,
        )
        self._seq += _seqs
        if _wait:
            await self._drain()
            await self._ports.sink.emit(event)
            return event
        await self._unconfirmed.acquire()
        task = asyncio.create_task(self._ports.sink.emit(event))
        self._outbox.add(task)
        task.add_done_callback(self._sent)
        return event

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._outbox.discard(task)
        self._unconfirmed.release()
        if not task.cancelled() and task.exception() is not None and self._publish_error is None:
            self._publish_error = task.exception()

    async def _drain(self) -> None:
        """Wait until every event emitted so far is confirmed; raise if one was not."""
        while self._outbox:
            await asyncio.gather(*list(self._outbox), return_exceptions=True)
        if self._publish_error is not None:
            raise self._publish_error
