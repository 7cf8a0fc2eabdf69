"""One crawl: a breadth-first frontier worked by a few concurrent fetchers.

Scope (same site, subdomains, include / exclude patterns) lives in ``frontier.py``; politeness
and safety live in the fetcher. Sitemaps seed the frontier at the start (``sitemap``: include /
skip / only); a page whose ``<link rel=canonical>`` names another in-scope URL is recorded as
``non_canonical`` and the canonical URL is crawled instead; pages whose extracted text was
already seen are recorded as ``duplicate``. An HTML page that the request's ``render`` mode
renders (``rendering``) goes to the renderer port first and is extracted as rendered; when it
cannot be, it is extracted as fetched and the job's log says why.

The engine receives its ports (fetcher, robots, extractor, event sink) as parameters and
knows nothing of RabbitMQ or of the database, so unit tests drive it with fakes. Its durable
state is public: a crawl starts from a :class:`crawl_worker.state.CrawlState` (a resumed
attempt's), journals every change of it, and :meth:`Crawl.cut` hands the changes since the
last cut to whoever stores them (the job runner), together with the counters to publish once
they are stored (:meth:`Crawl.report_progress`). A :class:`FetchGate` given to it is waited
on before each visit: the runner closes it while its lease cannot be renewed.

A visit counts its URL's outcome only once everything it found is journaled (the links of a
page are discovered before the page is recorded), so a cut never holds an outcome without its
consequences. Counter invariant, kept at every emitted event::

    discovered == queued + in_flight + fetched + failed + skipped

A crawl ends with exactly one terminal event, unless it is abandoned (another worker took its
lease): then it stops at once and says nothing more; or unless it is handed back
(:meth:`Crawl.hand_back`, its worker is stopping): then it starts no visit, lets those in
flight end for a while, stops the rest (their URLs stay queued, as a cut stores them anyway),
and ``run()`` returns ``None``; once its runner stored the last commit,
:meth:`Crawl.announce_release` sends ``CrawlReleased`` as the attempt's last word, and another
attempt goes on from that commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

import structlog

from crawl_contracts import (
    Counters,
    CrawlCancelled,
    CrawlCompleted,
    CrawlFailed,
    CrawlHeartbeat,
    CrawlLogged,
    CrawlProgressed,
    CrawlReleased,
    CrawlRequested,
    CrawlStarted,
    Envelope,
    Outcome,
    PageRecorded,
    PageRendered,
    PagesRecorded,
    SkippedUrl,
    StopReason,
    UrlsSkipped,
)
from crawl_contracts.models import SitemapMode
from crawl_schema.keys import url_hash
from crawl_worker.baseline import Baseline, BaselineError, Baselines, EarlierPage
from crawl_worker.documents import DocumentError, is_pdf
from crawl_worker.extract import Extracted
from crawl_worker.fetch import DOCUMENT_TYPES, HTML_TYPES, FetchResult, Validators
from crawl_worker.frontier import Scope
from crawl_worker.rendering import RendererUnavailableError, needs_rendering
from crawl_worker.robots import RobotsCache
from crawl_worker.sitemap import read_sitemaps
from crawl_worker.state import Commit, CrawlState, Journal
from crawl_worker.urls import normalize_url, resolve_link

__all__ = [
    "Crawl",
    "CrawlPorts",
    "EventSink",
    "Extractor",
    "FetchGate",
    "PageFetcher",
    "PageRenderer",
]

log = structlog.get_logger("crawl_worker.crawl")

Extractor = Callable[[bytes, str], Awaitable[Extracted]]
Terminal = CrawlCompleted | CrawlFailed | CrawlCancelled
_E = TypeVar("_E", bound=Envelope)
_MAX_UNCONFIRMED = 256  # events published but not yet confirmed by the broker
# Skips decided without a request (out_of_scope, depth_limit, page_limit) are recorded in
# batches (UrlsSkipped): a crawl discovers many more such links (most of them to other sites)
# than it fetches pages. A batch goes out when full, at each cut of the journal, and before
# the terminal event.
_SKIP_BATCH = 200
# Page records go out in batches too (PagesRecorded; a batch of one as a plain PageRecorded):
# when a batch holds ``record_batch`` records (default this many) or about this many bytes of
# text and links, at each cut of the journal (every commit of the crawl's state, so a record
# waits at most a checkpoint interval), and before the terminal event. A busy crawl's page
# then costs the broker and the status service a part of a message, not one of its own.
_RECORD_BATCH = 100
_RECORD_BATCH_BYTES = 1024 * 1024
# The auto render rule parses a page that carries scripts; above this size in a thread, so a
# large page does not hold up the event loop's other visits.
_INLINE_RULE_BYTES = 64 * 1024


class EventSink(Protocol):
    async def emit(self, event: Any) -> None: ...


class FetchGate(Protocol):
    async def wait(self) -> None:
        """Return when the crawl may start another visit."""


class PageFetcher(Protocol):
    async def fetch(
        self,
        url: str,
        in_scope: Callable[[str], bool] = ...,
        validators: Validators | None = ...,
    ) -> FetchResult: ...

    async def fetch_bytes(self, url: str) -> tuple[int | None, bytes]: ...


class PageRenderer(Protocol):
    async def render(
        self, command: CrawlRequested, url: str, body: bytes, content_type: str
    ) -> PageRendered:
        """The page as a browser rendered it (``html``), or why not (``error``); raises
        ``RendererUnavailableError`` when no renderer runs at all."""


@dataclass(frozen=True, slots=True)
class CrawlPorts:
    fetcher: PageFetcher
    robots: RobotsCache
    extract: Extractor
    sink: EventSink
    baselines: Baselines | None = None  # where a re-crawl finds its earlier job (``since``)
    renderer: PageRenderer | None = None  # renders pages by the request's ``render`` mode


@dataclass(slots=True)
class _Count:
    discovered: int = 0
    queued: int = 0
    in_flight: int = 0
    fetched: int = 0
    failed: int = 0
    skipped: int = 0
    unchanged: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0

    def snapshot(self, *, in_flight_as_queued: bool = False) -> Counters:
        """The counters; ``in_flight_as_queued`` counts URLs being visited as queued (as a
        resumed attempt finds them)."""
        moved = self.in_flight if in_flight_as_queued else 0
        return Counters(
            discovered=self.discovered,
            queued=self.queued + moved,
            in_flight=self.in_flight - moved,
            fetched=self.fetched,
            failed=self.failed,
            skipped=self.skipped,
            unchanged=self.unchanged,
            added=self.added,
            changed=self.changed,
            removed=self.removed,
        )


class _AbandonedError(Exception):
    """An event of an abandoned crawl: never published, so never confirmed (a commit that
    counts it is never stored)."""


class _Sink:
    """The event sink, muted once the crawl is abandoned (its events raise ``_AbandonedError``);
    notes the first confirmation."""

    def __init__(self, inner: EventSink) -> None:
        self._inner = inner
        self.muted = False
        self.first_confirmed = asyncio.Event()

    async def emit(self, event: Any) -> None:
        if self.muted:
            raise _AbandonedError(event.type)
        await self._inner.emit(event)
        self.first_confirmed.set()


async def _confirmed(publication: asyncio.Task[None]) -> None:
    """Wait for one publication; its failure is the crawl's to raise (``_sent``)."""
    await asyncio.wait([publication])


class _Open:
    async def wait(self) -> None:
        return None


class Crawl:
    """Runs one job to its terminal event. ``cancel()`` stops it promptly."""

    def __init__(
        self,
        command: CrawlRequested,
        ports: CrawlPorts,
        *,
        worker_id: str,
        concurrency: int = 8,
        record_batch: int = _RECORD_BATCH,
        attempt: int = 1,
        state: CrawlState | None = None,
        deadline: float | None = None,
        gate: FetchGate | None = None,
    ) -> None:
        self.command = command
        self.request = command.request
        self._ports = ports
        self._sink = _Sink(ports.sink)
        self._worker_id = worker_id
        self._concurrency = concurrency
        self._attempt = attempt
        self._gate = gate or _Open()
        self._seq = 0
        state = state or CrawlState()
        self._frontier = state.frontier
        self._seen = state.seen  # URL hashes (crawl_schema.keys.url_hash)
        self._hashes = state.hashes  # content hashes of recorded pages
        self._skips: list[SkippedUrl] = list(state.skips)  # counted, not sent yet
        self._records: list[PageRecorded] = []  # journaled, each holding a slot; not sent yet
        self._records_bytes = 0
        self._record_batch = record_batch
        self._records_sent: asyncio.Future[None] | None = None  # the pending batch's publication
        self._count = _Count(**state.counters)
        self._journal = Journal()
        self._in_flight: set[str] = set()
        self._active = 0  # workers inside _visit: the crawl is over when 0 and frontier empty
        self._stopped_in_flight: list[tuple[str, int]] = []  # recorded after the terminal
        self._outbox: set[asyncio.Task[None]] = set()
        self._unconfirmed = asyncio.Semaphore(_MAX_UNCONFIRMED)
        self._publish_error: BaseException | None = None
        self._changed = asyncio.Condition()
        self._cancelled = asyncio.Event()
        # A hand-back: asked (no visit starts), then the visits in flight are out of time, and
        # whether the crawl stopped for it (``run()`` returned None).
        self._hand_back_asked = asyncio.Event()
        self._visits_over = asyncio.Event()
        self._visits_timer: asyncio.TimerHandle | None = None
        self.handed_back = False
        self._page_limited = False
        self._start_unreachable: str | None = None  # why the start URL was never fetched
        self._baseline: Baseline | None = None  # the earlier job of a re-crawl, once opened
        self._renderer_missing = False  # said once per crawl: no renderer runs
        self.timed_out = False
        self.abandoned = False
        self.ended = False  # the terminal event is on its way
        self._deadline_timer: asyncio.TimerHandle | None = None
        if deadline is not None:
            delay = max(0.0, deadline - time.monotonic())
            self._deadline_timer = asyncio.get_running_loop().call_later(delay, self._time_up)
        self.start_url = normalize_url(self.request.url)
        self._scope = Scope.build(
            self.start_url,
            allow_subdomains=self.request.allow_subdomains,
            include=self.request.include,
            exclude=self.request.exclude,
        )

    # -- public --------------------------------------------------------------------------

    @property
    def first_confirmed(self) -> asyncio.Event:
        """Set once the broker confirmed any event of this crawl."""
        return self._sink.first_confirmed

    @property
    def counters(self) -> Counters:
        return self._count.snapshot()

    def cancel(self) -> None:
        self._cancelled.set()

    def abandon(self) -> None:
        """Stop now and say nothing more: another worker holds the job."""
        self.abandoned = True
        self._sink.muted = True
        self.cancel()

    def hand_back(self, visits_for: float) -> None:
        """Stop for another worker to go on (this one is stopping): no visit starts from now;
        those in flight may end for ``visits_for`` seconds, then they are stopped, unrecorded
        (their URLs stay queued for the next attempt). ``run()`` then returns ``None``, or its
        terminal event if the crawl ended meanwhile (nothing left to visit, a cancel, its time
        limit). Nothing once the terminal event is on its way."""
        if self.ended or self._hand_back_asked.is_set():
            return
        self._hand_back_asked.set()
        loop = asyncio.get_running_loop()
        self._visits_timer = loop.call_later(max(visits_for, 0.0), self._visits_over.set)

    async def run(self) -> Terminal | None:
        """Crawl until the frontier is exhausted, a limit is reached, or ``cancel()``; ``None``
        when the crawl stopped for a hand-back (:meth:`hand_back`)."""
        try:
            return await self._run()
        finally:
            for timer in (self._deadline_timer, self._visits_timer):
                if timer is not None:
                    timer.cancel()

    async def announce_release(self, counters: Counters, reason: str = "shutdown") -> None:
        """Send ``CrawlReleased``, the attempt's last word after a hand-back, once every event
        before it is confirmed; returns once the broker confirmed it (raises if it or an
        earlier event was not). ``counters``: those of the last commit stored."""
        self.ended = True  # no progress or heartbeat from here on
        await self._drain()
        event = self._event(
            CrawlReleased, worker_id=self._worker_id, reason=reason, counters=counters
        )
        await self._sink.emit(event)

    async def cancel_unstarted(self) -> CrawlCancelled:
        """End a job whose cancel was heard before it started: one terminal event, no page."""
        return await self._terminal(CrawlCancelled)

    async def heartbeat(self) -> None:
        """Publish a sign of life (returns once the broker confirmed it); nothing once the
        terminal event is out."""
        await self._emit_unless_ended(CrawlHeartbeat, worker_id=self._worker_id)

    async def flush_skips(self) -> None:
        """Send the batched skips now."""
        if not self._skips:
            return
        await self._unconfirmed.acquire()
        # From here to the journal entry, no await: a cut sees the batch pending or sent.
        batch, self._skips = self._skips, []
        if not batch:  # another flush took them meanwhile
            self._unconfirmed.release()
            return
        self._journal.sent(self._publish(UrlsSkipped, urls=batch, _seqs=len(batch)))

    def cut(self) -> Commit:
        """The changes of the crawl's state since the last cut (no await: consistent); the
        page records it counts are sent now."""
        self._flush_records()
        return self._journal.cut(
            self._count.snapshot(in_flight_as_queued=True), self.counters, self._skips
        )

    async def report_progress(self, counters: Counters) -> None:
        """Publish ``counters`` (those of a stored commit) as the crawl's progress (returns
        once the broker confirmed it); nothing once the terminal event is out (it would
        outrank the terminal event's final counters)."""
        await self._emit_unless_ended(CrawlProgressed, counters=counters)

    async def _emit_unless_ended(self, cls: type[Envelope], **fields: Any) -> None:
        if self.ended:
            return
        await self._unconfirmed.acquire()
        if self.ended:  # the terminal event began meanwhile: it must stay the last word
            self._unconfirmed.release()
            return
        await _confirmed(self._publish(cls, **fields))

    # -- the crawl -----------------------------------------------------------------------

    async def _run(self) -> Terminal | None:
        # Not held for its confirm: events go out on one channel in order, a consumer orders
        # them by ``seq`` anyway, and the command is acked once any event is confirmed.
        await self._emit(CrawlStarted, worker_id=self._worker_id)
        if self.request.since is not None:
            try:
                self._baseline = await self._open_baseline(self.request.since)
            except BaselineError as exc:
                return await self._terminal(CrawlFailed, error_code="invalid_since", error=str(exc))
        if url_hash(self.start_url) not in self._seen:  # a resumed crawl knows it already
            self._discover(self.start_url, 0)
        workers = [asyncio.create_task(self._work_all())]
        cancel_wait = asyncio.create_task(self._cancelled.wait())
        hand_back_wait = asyncio.create_task(self._hand_back_asked.wait())
        try:
            done_all: asyncio.Future[Any] = asyncio.gather(*workers)
            await asyncio.wait(
                [done_all, cancel_wait, hand_back_wait], return_when=asyncio.FIRST_COMPLETED
            )
            if self._hand_back_asked.is_set() and not self._cancelled.is_set():
                await self._wind_down(workers, done_all, cancel_wait)
            if self._cancelled.is_set():
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                return await self._finish_stopped()
            if self.handed_back:
                return None
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
            hand_back_wait.cancel()
        if self._hand_back_asked.is_set() and self._frontier and not self._page_limited:
            # Every visit in flight ended, and URLs are left: the next attempt visits them.
            self.handed_back = True
            return None
        return await self._finish()

    async def _finish(self) -> Terminal:
        """The frontier is worked off (or the page limit reached): the terminal event."""
        while self._frontier:  # unfetched because of max_pages
            url, depth = self._frontier.popleft()
            self._count.queued -= 1
            # Out of the frontier as a resumed attempt sees it, in the same step as it is
            # counted: until its batch is confirmed it travels in the commits as pending.
            self._journal.settled(url_hash(url))
            await self._record_skip(url, depth, "page_limit")
        if self._start_unreachable is not None and self._count.fetched + self._count.unchanged == 0:
            # Nothing was crawled because the site could not be reached: a failure to name,
            # not a crawl that completed with one skipped page.
            return await self._terminal(
                CrawlFailed, error_code="start_unreachable", error=self._start_unreachable
            )
        reason = StopReason.PAGE_LIMIT if self._page_limited else StopReason.EXHAUSTED
        baseline = self._baseline
        if baseline is not None and reason is StopReason.EXHAUSTED:
            # Everything reachable was visited: the earlier job's pages this one has no
            # content for are gone (a crawl cut short says nothing of those it did not reach).
            kept = self._count.changed + self._count.unchanged
            self._count.removed = max(0, baseline.pages - kept)
        return await self._terminal(CrawlCompleted, stop_reason=reason)

    async def _wind_down(
        self,
        workers: list[asyncio.Task[None]],
        done_all: asyncio.Future[Any],
        cancel_wait: asyncio.Future[Any],
    ) -> None:
        """A hand-back was asked: wait until the visits in flight end, the crawl is cancelled,
        or the visits' time is up; then the visits still in flight are stopped (their URLs,
        counted in flight, stay queued in the durable state: ``Crawl.cut``)."""
        async with self._changed:
            self._changed.notify_all()  # the workers waiting for a URL leave
        visits_over = asyncio.create_task(self._visits_over.wait())
        try:
            await asyncio.wait(
                [done_all, cancel_wait, visits_over], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            visits_over.cancel()
        if done_all.done() or self._cancelled.is_set():
            return
        self.handed_back = True
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _open_baseline(self, job_id: str) -> Baseline:
        if self._ports.baselines is None:
            raise BaselineError("this crawler has no access to earlier jobs")
        return await self._ports.baselines.open(
            job_id, tenant=self.command.tenant, start_url=self.start_url
        )

    def _budget_left(self) -> bool:
        c = self._count  # an unchanged page of a re-crawl is a page visited like any other
        return c.fetched + c.unchanged + c.failed + c.in_flight < self.request.max_pages

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
                while self._hand_back_asked.is_set() or not (
                    self._frontier and self._budget_left()
                ):
                    if self._hand_back_asked.is_set():  # no visit starts: the workers leave
                        self._changed.notify_all()
                        return
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
                # Right before the visit: a worker may have waited for this URL a long time.
                # (While it waits here the URL is in flight, which a cut stores as queued.)
                await self._gate.wait()
                if self._hand_back_asked.is_set():  # asked while waiting: not visited
                    self._unpop(url, depth)
                else:
                    await self._visit(url, depth)
            except asyncio.CancelledError:
                # Stopped for a hand-back: the URL stays in flight, which a cut stores as
                # queued (the next attempt visits it).
                if url in self._in_flight and not self.abandoned and not self.handed_back:
                    # Stopped mid-visit: counted as skipped now, recorded right after the
                    # terminal event, so nothing stands between the stop and its terminal.
                    self._settle(url)
                    self._count.skipped += 1
                    self._stopped_in_flight.append((url, depth))
                raise
            finally:
                self._active -= 1
            async with self._changed:
                self._changed.notify_all()

    def _unpop(self, url: str, depth: int) -> None:
        """A URL taken from the frontier goes back to its head, unvisited."""
        self._in_flight.discard(url)
        self._count.in_flight -= 1
        self._count.queued += 1
        self._frontier.appendleft((url, depth))

    def _settle(self, url: str) -> None:
        """The URL leaves ``in_flight``; its outcome is counted in the same step."""
        self._in_flight.discard(url)
        self._count.in_flight -= 1

    async def _visit(self, url: str, depth: int) -> None:
        ports = self._ports
        refusal = await ports.robots.refusal(url)
        if refusal is not None:
            reason, cause = refusal
            skipped = FetchResult(Outcome.SKIPPED, reason, attempts=0, error=cause)
            await self._record(url, depth, skipped)
            return
        earlier = await self._baseline.page(url) if self._baseline is not None else None
        validators = earlier.validators if earlier is not None else None
        result = await ports.fetcher.fetch(url, self._in_scope, validators)
        if earlier is not None and result.outcome is Outcome.UNCHANGED:
            await self._unchanged(url, depth, result, earlier)
            return
        if result.outcome is not Outcome.FETCHED or result.body is None:
            await self._record(url, depth, result)
            return
        body_hash = hashlib.sha256(result.body).hexdigest()
        if earlier is not None and earlier.body_hash == body_hash:  # the same bytes again
            await self._unchanged(url, depth, replace(result, reason="same_body"), earlier)
            return
        base = result.final_url or url
        body, rendered = await self._rendered(url, base, result, result.body)
        page = await self._extracted(url, depth, result, body, base)
        if page is None:
            return
        canonical = self._canonical(page, base, url)
        if canonical is not None:
            await self._found(canonical, depth)  # before the record: a cut never splits them
            skipped = FetchResult(
                Outcome.SKIPPED,
                "non_canonical",
                result.http_status,
                canonical,
                result.content_type,
                attempts=result.attempts,
            )
            await self._record(url, depth, skipped)
            return
        if base != url:
            self._know(base)  # the redirect target is known; not a new discovery
        if page.content_hash and page.content_hash in self._hashes:
            duplicate = FetchResult(
                Outcome.SKIPPED,
                "duplicate",
                result.http_status,
                base,
                result.content_type,
                attempts=result.attempts,
            )
            await self._record(url, depth, duplicate)
            return
        if page.content_hash:
            self._hashes.add(page.content_hash)
        link_base = resolve_link(base, page.base) if page.base else base
        links = list(
            dict.fromkeys(
                link
                for href in page.links
                if (link := resolve_link(link_base or base, href)) is not None
            )
        )
        await self._follow(links, depth)
        kept = _kept_links(links)  # None: too many to keep (a re-crawl then reads it again)
        if earlier is not None and page.content_hash == earlier.extracted.content_hash:
            # Other bytes, the same text (a date in a footer, a new session token)
            same = replace(result, outcome=Outcome.UNCHANGED, reason="same_text")
            await self._record(
                url, depth, same, page, body_hash=body_hash, links=kept, rendered=rendered
            )
            return
        change: Literal["added", "changed"] | None = None
        if self._baseline is not None:
            change = "added" if earlier is None else "changed"
        await self._record(
            url,
            depth,
            result,
            page,
            body_hash=body_hash,
            links=kept,
            change=change,
            rendered=rendered,
        )

    async def _rendered(
        self, url: str, base: str, result: FetchResult, body: bytes
    ) -> tuple[bytes, bool]:
        """The page to extract, and whether a browser rendered it (``render`` mode, see
        ``rendering``). A page that could not be rendered is the fetched one; the job's log
        says why (and names every request the renderer refused)."""
        if result.content_type not in HTML_TYPES or is_pdf(body):
            return body, False
        wanted = partial(needs_rendering, self.request.render, body)
        if not (wanted() if len(body) <= _INLINE_RULE_BYTES else await asyncio.to_thread(wanted)):
            return body, False
        answer: PageRendered | None = None
        missing = "this crawler has no renderer"
        if self._ports.renderer is not None:
            try:
                answer = await self._ports.renderer.render(
                    self.command, base, body, result.content_type
                )
            except RendererUnavailableError as exc:
                missing = str(exc)
        if answer is None:
            if not self._renderer_missing:  # once per crawl, not once per page
                self._renderer_missing = True
                await self._log(
                    "warning",
                    f"render: {missing}; pages that need rendering are recorded from their "
                    "fetched HTML",
                )
            return body, False
        self._renderer_missing = False
        for blocked in answer.blocked:
            await self._log("warning", f"render blocked {blocked.url} ({blocked.reason}) on {url}")
        if answer.html is None:
            await self._log(
                "warning",
                f"render of {url} failed: {answer.error}; recorded from the fetched HTML",
            )
            return body, False
        return answer.html.encode(), True

    async def _extracted(
        self, url: str, depth: int, result: FetchResult, body: bytes, base: str
    ) -> Extracted | None:
        """The page's text and links; ``None`` once a failure to extract is recorded."""
        try:
            return await self._extract(body, result.content_type, base)
        except TimeoutError:
            reason, error, note = "extraction_timeout", None, f"extraction of {url} ran out of time"
        except DocumentError as exc:
            reason, error, note = exc.reason, exc.detail, None
        except Exception as exc:
            reason, error = "extraction_error", None
            note = f"extraction failed for {url}: {exc!r}"[:500]
        failed = FetchResult(
            Outcome.FAILED,
            reason,
            result.http_status,
            base,
            result.content_type,
            attempts=result.attempts,
            error=error,
        )
        await self._record(url, depth, failed)
        if note is not None:
            await self._log("warning", note)
        return None

    async def _follow(self, links: list[str], depth: int) -> None:
        if self.request.sitemap is not SitemapMode.ONLY:
            for link in links:
                await self._found(link, depth + 1)

    async def _unchanged(
        self, url: str, depth: int, result: FetchResult, earlier: EarlierPage
    ) -> None:
        """A page as the earlier job recorded it (``304``, or the same bytes): its text,
        fields and links stand in for a body not read again."""
        page = earlier.extracted
        if page.content_hash and page.content_hash in self._hashes:
            duplicate = replace(result, outcome=Outcome.SKIPPED, reason="duplicate")
            await self._record(url, depth, duplicate)
            return
        if page.content_hash:
            self._hashes.add(page.content_hash)
        if result.final_url and result.final_url != url:
            self._know(result.final_url)  # the redirect target is known; not a new discovery
        await self._follow(page.links, depth)
        same = replace(
            result,
            outcome=Outcome.UNCHANGED,
            content_type=result.content_type or earlier.content_type,
            etag=result.etag or earlier.validators.etag,
            last_modified=result.last_modified or earlier.validators.last_modified,
        )
        await self._record(url, depth, same, page, body_hash=earlier.body_hash, links=page.links)

    async def _extract(self, body: bytes, content_type: str | None, url: str) -> Extracted:
        if content_type in DOCUMENT_TYPES and not is_pdf(body):
            raise DocumentError("pdf_damaged", "served as a PDF, without a PDF signature")
        return await self._ports.extract(body, url)

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
        key = url_hash(url)
        if key in self._seen:
            return
        if not self._in_scope(url):
            self._know(url, key)
            self._count.discovered += 1
            await self._record_skip(url, depth, "out_of_scope")
        elif depth > self.request.max_depth:
            self._know(url, key)
            self._count.discovered += 1
            await self._record_skip(url, depth, "depth_limit")
        else:
            self._discover(url, depth, key)

    def _know(self, url: str, key: int | None = None) -> None:
        """A URL is known without being queued."""
        key = url_hash(url) if key is None else key
        if key not in self._seen:
            self._seen.add(key)
            self._journal.seen(key)

    def _discover(self, url: str, depth: int, key: int | None = None) -> None:
        self._seen.add(url_hash(url) if key is None else key)
        self._journal.queued(url, depth)
        self._count.discovered += 1
        self._count.queued += 1
        self._frontier.append((url, depth))

    # -- events --------------------------------------------------------------------------

    async def _record_skip(self, url: str, depth: int, reason: str) -> None:
        """A skip decided without a request, counted now, sent in a batch (``UrlsSkipped``)."""
        self._count.skipped += 1
        self._skips.append(SkippedUrl(url=url, depth=depth, reason=reason))
        if len(self._skips) >= _SKIP_BATCH:
            await self.flush_skips()

    async def _record(
        self,
        url: str,
        depth: int,
        result: FetchResult,
        page: Extracted | None = None,
        *,
        body_hash: str | None = None,
        links: list[str] | None = None,
        change: Literal["added", "changed"] | None = None,
        rendered: bool = False,
    ) -> None:
        """Count a visited URL's outcome (it leaves ``in_flight``), publish its record and
        journal it, in one step as a cut sees it: the only await comes first."""
        await self._unconfirmed.acquire()
        self._settle(url)
        if url == self.start_url and _unreachable(result):
            self._start_unreachable = (
                f"the start URL {url} could not be fetched: {result.cause()}"
                + (f" ({result.attempts} attempts)" if result.attempts > 1 else "")
            )
        match result.outcome:
            case Outcome.FETCHED:
                self._count.fetched += 1
            case Outcome.FAILED:
                self._count.failed += 1
            case Outcome.SKIPPED:
                self._count.skipped += 1
            case Outcome.UNCHANGED:
                self._count.unchanged += 1
        if change == "added":
            self._count.added += 1
        elif change == "changed":
            self._count.changed += 1
        sent = self._batch_record(
            url=url,
            outcome=result.outcome,
            reason=result.reason,
            error=result.error,
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
            page_count=page.page_count if page else None,
            etag=result.etag,
            last_modified=result.last_modified,
            body_hash=body_hash,
            links=tuple(links) if links is not None else None,
            change="unchanged" if result.outcome is Outcome.UNCHANGED else change,
            rendered=rendered,
        )
        self._journal.recorded(url_hash(url), page.content_hash if page else None, sent)

    def _batch_record(self, **fields: Any) -> asyncio.Future[None]:
        """Add the next ``PageRecorded`` to the pending batch, in a slot already taken from
        ``_unconfirmed``; returns the batch's publication. A full batch goes out now."""
        try:
            event = self._event(PageRecorded, **fields)
        except BaseException:
            self._unconfirmed.release()
            raise
        if self._records_sent is None:
            self._records_sent = asyncio.get_running_loop().create_future()
        sent = self._records_sent
        self._records.append(event)
        self._records_bytes += _record_bytes(event)
        if len(self._records) >= self._record_batch or self._records_bytes >= _RECORD_BATCH_BYTES:
            self._flush_records()
        return sent

    def _flush_records(self) -> None:
        """Send the pending page records now (no await): one ``PagesRecorded``, or the record
        itself when it is alone."""
        batch, self._records, self._records_bytes = self._records, [], 0
        sent, self._records_sent = self._records_sent, None
        if sent is None:  # nothing pending
            return
        message: PageRecorded | PagesRecorded = batch[0]
        if len(batch) > 1:
            message = PagesRecorded(
                job_id=self.command.job_id,
                tenant=self.command.tenant,
                correlation_id=self.command.message_id,
                attempt=self._attempt,
                seq=batch[0].seq,
                pages=batch,
            )
        self._send(message, len(batch), sent)

    async def _log(self, level: str, message: str) -> None:
        await self._emit(CrawlLogged, level=level, message=message)

    def _time_up(self) -> None:
        self.timed_out = True
        self.cancel()

    async def _finish_stopped(self) -> CrawlCompleted | CrawlCancelled:
        """Cancelled, timed out or abandoned: the terminal event first, then the unvisited
        URLs as skipped.

        The terminal event carries the final counters (every unvisited URL counted as
        skipped), so the job reads ``cancelled`` (or ``completed`` at its time limit) as soon
        as the status service reaches it, however long the frontier was; the skipped URLs
        follow it into the ledger. An abandoned crawl sends nothing: another attempt speaks
        for the job (what it returns is never sent)."""
        if self.abandoned:
            return CrawlCancelled(
                job_id=self.command.job_id,
                tenant=self.command.tenant,
                attempt=self._attempt,
                seq=self._seq + 1,
                counters=self.counters,
            )
        unvisited = self._stopped_in_flight + list(self._frontier)  # in flight: counted
        self._count.queued -= len(self._frontier)
        self._count.skipped += len(self._frontier)
        self._frontier.clear()
        reason = "time_limit" if self.timed_out else "cancelled"
        terminal: CrawlCompleted | CrawlCancelled
        if self.timed_out:
            # A time limit is a normal end (CrawlCompleted) reached through the stop path.
            terminal = await self._terminal(CrawlCompleted, stop_reason=StopReason.TIME_LIMIT)
        else:
            terminal = await self._terminal(CrawlCancelled)
        for url, depth in unvisited:
            await self._emit(
                PageRecorded,
                url=url,
                outcome=Outcome.SKIPPED,
                reason=reason,
                depth=depth,
                attempts=0,
            )
        return terminal

    async def _terminal(self, cls: type[_E], **fields: Any) -> _E:
        # Every earlier event is confirmed before the terminal one is sent, so a consumer
        # that applies a job's messages in delivery order sees the pages before the end.
        self.ended = True  # no progress or heartbeat from here on
        self._flush_records()
        await self.flush_skips()
        await self._drain()
        await self._gate.wait()  # never on a lease that may have run out
        event = self._event(cls, counters=self.counters, **fields)
        with contextlib.suppress(_AbandonedError):  # abandoned meanwhile: another attempt speaks
            await self._sink.emit(event)
        return event

    def _event(self, cls: type[_E], *, _seqs: int = 1, **fields: Any) -> _E:
        """The next event (``_seqs`` sequence numbers taken)."""
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
        return event

    async def _emit(self, cls: type[_E], *, _seqs: int = 1, **fields: Any) -> asyncio.Task[None]:
        """Build the next event and hand it to the sink; returns its publication (done once
        the broker confirmed it).

        Events are published concurrently (up to ``_MAX_UNCONFIRMED`` awaiting their broker
        confirmation), because one confirmed publish at a time caps a crawl at the broker's
        confirm latency. Consumers order by ``seq``, not by arrival.
        """
        await self._unconfirmed.acquire()
        return self._publish(cls, _seqs=_seqs, **fields)

    def _publish(self, cls: type[_E], *, _seqs: int = 1, **fields: Any) -> asyncio.Task[None]:
        """Publish the next event in a slot taken from ``_unconfirmed`` (released when the
        publication ends, or now if the event cannot be built)."""
        try:
            event = self._event(cls, _seqs=_seqs, **fields)
        except BaseException:
            self._unconfirmed.release()
            raise
        return self._send(event, 1)

    def _send(
        self, message: Envelope, slots: int, confirmation: asyncio.Future[None] | None = None
    ) -> asyncio.Task[None]:
        """Hand ``message`` to the sink, holding ``slots`` of ``_unconfirmed`` until its
        publication ends; ``confirmation`` (a batch's records') then follows its outcome."""
        task = asyncio.create_task(self._sink.emit(message))
        self._outbox.add(task)
        task.add_done_callback(partial(self._sent, slots, confirmation))
        return task

    def _sent(
        self, slots: int, confirmation: asyncio.Future[None] | None, task: asyncio.Task[None]
    ) -> None:
        self._outbox.discard(task)
        for _ in range(slots):
            self._unconfirmed.release()
        error = None if task.cancelled() else task.exception()
        if confirmation is not None:
            if task.cancelled():
                confirmation.cancel()
            elif error is not None:
                confirmation.set_exception(error)
                confirmation.exception()  # retrieved: the crawl raises it (``_publish_error``)
            else:
                confirmation.set_result(None)
        if (
            error is not None
            and self._publish_error is None
            and not isinstance(error, _AbandonedError)
        ):
            self._publish_error = error

    async def _drain(self) -> None:
        """Wait until every event emitted so far is confirmed; raise if one was not."""
        while self._outbox:
            await asyncio.gather(*list(self._outbox), return_exceptions=True)
        if self._publish_error is not None:
            raise self._publish_error


# The links a page record keeps for a later re-crawl (which follows them from an unchanged
# page instead of reading it again): a page with more, or longer, is kept without them, and a
# re-crawl reads it again. 5,000 links of 100 bytes is half a megabyte a record.
_MAX_KEPT_LINKS = 5_000
_MAX_KEPT_LINK_BYTES = 512 * 1024


def _record_bytes(event: PageRecorded) -> int:
    """About what a record weighs in a batch: its text and links, and the rest."""
    return len(event.markdown or "") + sum(len(link) for link in event.links or ()) + 512


def _kept_links(links: list[str]) -> list[str] | None:
    if len(links) > _MAX_KEPT_LINKS or sum(len(link) for link in links) > _MAX_KEPT_LINK_BYTES:
        return None
    return links


# The start URL could not be fetched at all: no answer (after the fetcher's retries), a
# server error every time, or no robots.txt to consult (which RFC 9309 reads as "nothing").
_UNREACHABLE_REASONS = frozenset(
    {"connect_error", "network_error", "timeout", "robots_unavailable"}
)


def _unreachable(result: FetchResult) -> bool:
    if result.reason in _UNREACHABLE_REASONS:
        return True
    return result.outcome is Outcome.FAILED and (result.http_status or 0) >= 500
