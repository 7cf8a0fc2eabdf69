"""A crawl that can be checkpointed, resumed, time-limited and abandoned.

It extends the engine (:class:`crawl_worker.crawl.Crawl`) without changing how it crawls:

- ``snapshot()`` returns the crawl's durable state (frontier, seen-set, content hashes,
  counters) as a JSON-friendly dict; a crawl built with ``checkpoint=`` starts from it.
- A URL whose visit has begun but not ended (fetch, extraction, link discovery) goes back into
  the snapshot's frontier and its outcome is taken off the counters: a resumed attempt visits
  it again and records it again under the same key, so the page ledger neither loses nor
  repeats a URL, and the counters keep adding up.
- ``deadline`` (a monotonic time) ends the crawl with ``stop_reason=time_limit``.
- ``abandon()`` stops at once and drops every further event: the job's lease went to another
  worker, which now speaks for it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, cast

from crawl_contracts import (
    CrawlCancelled,
    CrawlCompleted,
    CrawlHeartbeat,
    CrawlRequested,
    Outcome,
    PageRecorded,
    SkippedUrl,
    StopReason,
)
from crawl_worker.crawl import Crawl, CrawlPorts, EventSink
from crawl_worker.extract import Extracted
from crawl_worker.fetch import FetchResult
from crawl_worker.frontier import Frontier

__all__ = ["ResumableCrawl", "TrackingSink"]

_OUTCOME_COUNTER = {
    Outcome.FETCHED: "fetched",
    Outcome.FAILED: "failed",
    Outcome.SKIPPED: "skipped",
}


class TrackingSink:
    """Wraps the event sink: counts unconfirmed events and mutes an abandoned crawl."""

    def __init__(self, inner: EventSink) -> None:
        self._inner = inner
        self.pending = 0
        self.muted = False
        self.first_confirmed = asyncio.Event()
        self._quiet = asyncio.Event()
        self._quiet.set()

    async def emit(self, event: Any) -> None:
        if self.muted:
            return
        self.pending += 1
        self._quiet.clear()
        try:
            await self._inner.emit(event)
            self.first_confirmed.set()
        finally:
            self.pending -= 1
            if self.pending == 0:
                self._quiet.set()

    async def quiet(self, within: float) -> bool:
        """Wait until every emitted event is confirmed; ``False`` if that took too long."""
        try:
            await asyncio.wait_for(self._quiet.wait(), within)
        except TimeoutError:
            return False
        return self.pending == 0


class ResumableCrawl(Crawl):
    """The engine plus checkpoints, a time limit and abandonment (see the module doc)."""

    def __init__(
        self,
        command: CrawlRequested,
        ports: CrawlPorts,
        *,
        worker_id: str,
        concurrency: int = 8,
        progress_interval: float = 0.25,
        attempt: int = 1,
        checkpoint: dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> None:
        self.sink = TrackingSink(ports.sink)
        super().__init__(
            command,
            CrawlPorts(ports.fetcher, ports.robots, ports.extract, self.sink),
            worker_id=worker_id,
            concurrency=concurrency,
            progress_interval=progress_interval,
            attempt=attempt,
        )
        self._visiting: dict[str, int] = {}
        self._visit_outcome: dict[str, Outcome] = {}
        self._stopped_in_flight: list[tuple[str, int]] = []
        self.timed_out = False
        self.abandoned = False
        self._deadline_timer: asyncio.TimerHandle | None = None
        if deadline is not None:
            delay = max(0.0, deadline - time.monotonic())
            self._deadline_timer = asyncio.get_running_loop().call_later(delay, self._time_up)
        if checkpoint:
            self._restore(checkpoint)

    # -- public --------------------------------------------------------------------------

    def abandon(self) -> None:
        """Stop now and say nothing more: another worker holds the job."""
        self.abandoned = True
        self.sink.muted = True
        self.cancel()

    async def heartbeat(self) -> None:
        await self._emit(CrawlHeartbeat, worker_id=self._worker_id)

    async def cancel_unstarted(self) -> CrawlCancelled:
        """End a job whose cancel was heard before it started: one terminal event, no page."""
        return await self._terminal(CrawlCancelled)

    async def settled(self, within: float) -> bool:
        """Send the batched skips, then wait until every event sent is confirmed; whether
        that happened within ``within`` seconds (a snapshot is then consistent with the
        ledger: skips batched meanwhile travel in the snapshot itself)."""
        await self._flush_skips()
        return await self.sink.quiet(within)

    def snapshot(self) -> dict[str, Any]:
        """The durable state of the crawl at this instant (no await: it is consistent)."""
        counts = {
            "discovered": self._count.discovered,
            "queued": self._count.queued,
            "in_flight": self._count.in_flight,
            "fetched": self._count.fetched,
            "failed": self._count.failed,
            "skipped": self._count.skipped,
        }
        redo: list[dict[str, Any]] = []
        for url, depth in self._visiting.items():
            outcome = self._visit_outcome.get(url)
            if outcome is None:
                counts["in_flight"] -= 1
            else:
                counts[_OUTCOME_COUNTER[outcome]] -= 1
            counts["queued"] += 1
            redo.append({"url": url, "depth": depth})
        # Objects, not pairs: FerretDB v1 stores no nested arrays.
        frontier = redo + [{"url": url, "depth": depth} for url, depth in self._frontier]
        return {
            "frontier": frontier,
            # Skips counted but not sent yet: a resumed attempt sends them (a duplicate of
            # one this attempt still sends is the same record).
            "skips": [skip.model_dump() for skip in self._skips],
            "seen": sorted(self._seen),
            "hashes": {h: u for h, u in self._hashes.items() if u not in self._visiting},
            "counters": counts,
        }

    async def run(self) -> Any:
        try:
            return await super().run()
        finally:
            if self._deadline_timer is not None:
                self._deadline_timer.cancel()

    # -- engine hooks --------------------------------------------------------------------

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        self._frontier = Frontier(
            deque((str(item["url"]), int(item["depth"])) for item in checkpoint["frontier"]),
            set(checkpoint["seen"]),
        )
        self._seen = self._frontier.seen
        self._hashes = dict(checkpoint["hashes"])
        self._skips = [SkippedUrl.model_validate(s) for s in checkpoint.get("skips", [])]
        for name, value in checkpoint["counters"].items():
            setattr(self._count, name, int(value))

    def _discover(self, url: str, depth: int) -> None:
        # A restored crawl already holds the start URL: ``run()`` must not queue it twice.
        if url in self._seen:
            return
        super()._discover(url, depth)

    async def _visit(self, url: str, depth: int) -> None:
        self._visiting[url] = depth
        try:
            await super()._visit(url, depth)
        finally:
            self._visiting.pop(url, None)
            self._visit_outcome.pop(url, None)

    async def _record(
        self, url: str, depth: int, result: FetchResult, page: Extracted | None = None
    ) -> None:
        # Noted before the engine counts it (same event-loop step): a snapshot taken while
        # the event is on its way knows which counter to take the URL off.
        if url in self._visiting:
            self._visit_outcome[url] = result.outcome
        if self._stopping() and result.outcome is Outcome.SKIPPED and result.reason == "cancelled":
            # A page in flight when the crawl stopped: counted now, recorded right after the
            # terminal event, so nothing stands between the stop and its terminal event.
            self._count.skipped += 1
            self._stopped_in_flight.append((url, depth))
            return
        await super()._record(url, depth, result, page)

    def _stopping(self) -> bool:
        return self._cancelled.is_set() and not self.abandoned

    def _time_up(self) -> None:
        self.timed_out = True
        self.cancel()

    async def _finish_cancelled(self) -> CrawlCancelled:
        """Terminal event first, then the unvisited URLs as skipped.

        The terminal event carries the final counters (every unvisited URL counted as
        skipped), so the job reads ``cancelled`` (or ``completed`` at its time limit) as soon
        as the status service reaches it, however long the frontier was; the skipped URLs
        follow it into the ledger."""
        if self.abandoned:
            return await super()._finish_cancelled()
        unvisited = self._stopped_in_flight + list(self._frontier)  # in flight: counted
        self._count.queued -= len(self._frontier)
        self._count.skipped += len(self._frontier)
        self._frontier.clear()
        reason = "time_limit" if self.timed_out else "cancelled"
        terminal: Any
        if self.timed_out:
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
        # A time limit is a normal end (CrawlCompleted) reached through the cancel path.
        return cast(CrawlCancelled, terminal)
