"""The keeper of a running job: commits its durable state, renews its lease, reports progress.

Every ``checkpoint_interval`` it cuts the crawl's journal, waits until the events the cut
counts are confirmed, stores it as pieces of durable state and renews the lease in the same
commit (:meth:`crawl_worker.lease.LeaseStore.commit`), then publishes the stored counters as
the crawl's progress; with nothing new to report, a heartbeat goes out every
``heartbeat_interval``.

A commit that fails (the database is unreachable, a write is refused) is logged with its
cause and the same commit retried, with a growing pause, until it succeeds. Meanwhile the
lease runs down: with less than the gate's margin left the crawl starts no visit, and when it
runs out the job is given up (the crawl abandoned: it sends nothing more; the stall detector
has another attempt resume it). A lease found lost is given up at once; so is a commit whose
events the broker refused (they are not in the ledger, so it can never be stored), and the
job whenever the keeper itself fails: a job is never kept on a lease nobody renews.

When the crawl stopped for a hand-back, :meth:`Keeper.commit_last` (after ``run()`` was
cancelled, at whatever point) stores the commit ``run()`` was busy with, if any, then a last cut
of everything the crawl journaled: what the next attempt resumes from.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import bson
import structlog
from pymongo.errors import PyMongoError

from crawl_contracts import Counters
from crawl_contracts.envelope import utcnow
from crawl_schema.state import state_pieces
from crawl_worker import observability
from crawl_worker.crawl import Crawl
from crawl_worker.lease import LeaseGate, LeaseStore
from crawl_worker.settings import WorkerSettings
from crawl_worker.state import Commit

__all__ = ["Keeper"]

log = structlog.get_logger("crawl_worker.keeper")

_MAX_RETRY_PAUSE = 5.0
_TRY_SECONDS = 2.0  # at least this long for one try of a commit


class Keeper:
    """Keeps one attempt of one job (see the module doc); ``run()`` until cancelled."""

    def __init__(
        self,
        crawl: Crawl,
        leases: LeaseStore,
        gate: LeaseGate,
        settings: WorkerSettings,
        *,
        attempt: int,
        pieces: dict[int, int],
    ) -> None:
        self._crawl = crawl
        self._leases = leases
        self._gate = gate
        self._settings = settings
        self._job_id = crawl.command.job_id
        self._attempt = attempt
        self._pieces = {**pieces, attempt: pieces.get(attempt, 0)}
        # A cut whose events are not confirmed yet (kept across a cancel of ``run()``: the
        # journal gave its changes to it), then the commit to store: its pieces, their BSON
        # sizes, the counters to publish once stored and those it stores.
        self._cutting: Commit | None = None
        self._pending: tuple[list[dict[str, Any]], list[int], Counters, Counters] | None = None
        self._published: Counters | None = None  # of the last commit stored
        self._stored: Counters | None = None
        self._reported: Counters | None = None
        self._last_word = time.monotonic()
        self._failures = 0

    async def run(self) -> None:
        try:
            pause = self._settings.checkpoint_interval
            while True:
                await asyncio.sleep(pause)
                pause = await self._step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("crawl_state.keeper_failed")
            self._give_up()

    async def commit_last(self) -> Counters | None:
        """After the crawl stopped (``run()`` cancelled): store every change it journaled, with
        the lease, retrying as ``run()`` does; the counters stored (URLs in flight counted as
        queued), or ``None`` when the job was given up (logged). Bound it with a timeout."""
        while True:
            last = self._cutting is None and self._pending is None  # a cut made from here
            pause = await self._try()
            if pause is None:
                if last:
                    assert self._stored is not None
                    return self._stored
                continue  # the commit run() was busy with is stored: now the last one
            if math.isinf(pause):
                return None
            await asyncio.sleep(pause)

    async def _step(self) -> float:
        """One commit (a new one, or the last one again); the pause before the next."""
        pause = await self._try()
        if pause is not None:
            return pause
        assert self._published is not None
        await self._speak(self._published)
        return self._settings.checkpoint_interval

    async def _try(self) -> float | None:
        """One try of the next commit (the one pending, or a new cut); ``None`` once it is
        stored, else the pause before the next try (infinite: the job was given up)."""
        if self._pending is None and not await self._cut():
            return float("inf")
        assert self._pending is not None
        docs, sizes, published, stored = self._pending
        committed = {**self._pieces, self._attempt: self._pieces[self._attempt] + len(docs)}
        started = time.monotonic()
        # Each try is bounded (a database that does not answer makes the driver wait for
        # its server selection timeout), and never outlasts the lease.
        bound = max(_TRY_SECONDS, 2 * self._settings.checkpoint_interval)
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancel that comes as
        # the commit completes, and the keeper would outlive its crawl.
        try:
            async with asyncio.timeout(max(min(bound, self._gate.left()), 0.01)):
                lease = await self._leases.commit(self._job_id, self._attempt, docs, committed)
        except (PyMongoError, TimeoutError) as exc:
            return self._failed(exc)
        if lease is None:
            log.warning("lease.lost")
            self._give_up()
            return float("inf")
        if self._failures:
            log.info("crawl_state.commit_recovered", failures=self._failures)
            self._failures = 0
        self._gate.renewed(started + self._settings.lease_seconds)
        observability.state_committed(sizes, time.monotonic() - started)
        self._pieces, self._pending = committed, None
        self._published, self._stored = published, stored
        if lease.get("cancel_requested"):
            self._crawl.cancel()
        return None

    async def _cut(self) -> bool:
        """The next commit, once the events it counts are confirmed; ``False`` if they were
        not (the job is given up)."""
        crawl = self._crawl
        if self._cutting is None:
            await crawl.flush_skips()
            self._cutting = crawl.cut()  # no await in between: the batch sent is in the cut
        commit = self._cutting
        try:
            await commit.confirmed()
        except Exception as exc:
            log.error("crawl_state.events_unconfirmed", error=repr(exc)[:300])  # noqa: TRY400
            self._give_up()
            return False
        self._cutting = None
        at = utcnow()
        docs = state_pieces(
            self._job_id, self._attempt, self._pieces[self._attempt], commit.delta, at
        )
        stored = Counters(**commit.delta.counters)
        self._pending = (docs, [len(bson.encode(doc)) for doc in docs], commit.published, stored)
        return True

    def _failed(self, exc: BaseException) -> float:
        self._failures += 1
        left = self._gate.left()
        error = f"{type(exc).__name__}: {exc}"[:300]
        log.warning(
            "crawl_state.commit_failed",
            error=error,
            failures=self._failures,
            lease_left=round(left, 1),
            fetching=self._gate.open,
        )
        if left <= 0:
            log.error("lease.expired", error=error)
            self._give_up()
            return float("inf")
        pause = self._settings.checkpoint_interval * 2.0**self._failures
        return min(pause, _MAX_RETRY_PAUSE, max(left, 0.01))

    async def _speak(self, published: Counters) -> None:
        """The stored counters as progress, or a heartbeat when there is nothing new."""
        if published != self._reported:
            await self._crawl.report_progress(published)
            self._reported = published
        elif time.monotonic() - self._last_word >= self._settings.heartbeat_interval:
            await self._crawl.heartbeat()
        else:
            return
        self._last_word = time.monotonic()

    def _give_up(self) -> None:
        self._gate.give_up()
        self._crawl.abandon()
