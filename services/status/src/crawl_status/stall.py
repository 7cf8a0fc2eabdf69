"""Resumption: a job whose worker fell silent, or handed it back, is resumed by another.

A job is silent when it is ``running``, ``cancelling`` or ``stalled`` and its last event is
older than ``stall_after`` (crawlers send a heartbeat every few seconds), measured on the
projection's clock (the caller passes the time the projection has reached, so a backlog in the
status service does not look like a silent crawler). For each silent
attempt the detector publishes, once:

- ``cancelling``: ``CrawlCancelled`` (its worker died while stopping; there is nothing to stop);
- otherwise ``CrawlStalled`` and then ``CrawlResumeRequested`` for the next attempt, which a
  crawler claims and resumes from the checkpoint; or, once ``max_attempts`` are used up,
  ``CrawlFailed`` with ``error_code="stalled"``. Attempts handed back (below) are not counted:
  the limit is on attempts lost.

A worker that stops (SIGTERM: a scale-in, a rollout, a drain) hands its job back: a last
commit, its lease released to the next attempt, then ``CrawlReleased``. On it the detector
publishes that attempt's ``CrawlResumeRequested`` at once (:meth:`StallDetector.released`),
without waiting for the job to look silent: whatever the job's status but a terminal one (a
job being cancelled is ended by the crawler that claims the resume, which reads the cancel),
and only while the released attempt is the job's current one (a late or stale word is
ignored).

Silent jobs are found with one query on the ``status, last_activity_at`` index
(:func:`crawl_schema.queries.silent_jobs`): a scan reads the silent jobs only, whatever the
history kept, and sees the jobs every replica projects.

"Once" is kept by a mark per (job, attempt) in ``crawl_stall_marks``, written after the
messages were confirmed: a detector that dies in between publishes them again, which is
harmless (the projection is idempotent and a resume's attempt can be claimed only once), and
several status replicas may scan at the same time for the same reason. A hand-back and a
stall of one attempt share its mark: whichever comes first resumes it, the other is ignored,
and so is a redelivered ``CrawlReleased`` (one job's releases are handled one at a time: a
copy that arrives while the first is being handled finds its mark).

Messages this service emits carry the job's attempt and a sequence number above any a crawler
uses (:data:`STATUS_SEQ`), so its decision outranks a late word from a presumed-dead worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crawl_contracts import (
    STATUS_SEQ,
    TERMINAL_STATUSES,
    Counters,
    CrawlCancelled,
    CrawlFailed,
    CrawlReleased,
    CrawlRequest,
    CrawlResumeRequested,
    CrawlStalled,
    Envelope,
    JobStatus,
)
from crawl_contracts.envelope import utcnow
from crawl_schema import names
from crawl_schema.keys import stall_mark_id
from crawl_schema.queries import silent_jobs

__all__ = ["StallDetector"]

log = structlog.get_logger("crawl_status.stall")


Publish = Callable[[Envelope], Awaitable[None]]


class StallDetector:
    """Finds silent jobs and publishes what happens to them (see the module doc)."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        publish: Publish,
        *,
        stall_after: float,
        max_attempts: int,
    ) -> None:
        self.crawls = database[names.CRAWLS]
        self.marks = database[names.STALL_MARKS]
        self._publish = publish
        self.stall_after = timedelta(seconds=stall_after)
        self.max_attempts = max_attempts
        # Per job with a release being handled: its lock, and how many hold or await it.
        self._releasing: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    async def scan(self, now: datetime, *, batch: int = 500) -> int:
        """Handle every silent job found (at most ``batch``); returns how many were handled."""
        handled = 0
        silent = self.crawls.find(silent_jobs(now - self.stall_after)).limit(batch)
        async for doc in silent:
            if await self._handle(doc, now):
                handled += 1
        return handled

    async def _handle(self, doc: dict[str, Any], now: datetime) -> bool:
        job_id, attempt = doc["_id"], int(doc.get("attempt", 1))
        mark = stall_mark_id(job_id, attempt)
        if await self.marks.find_one({"_id": mark}) is not None:
            return False
        silent = (now - doc["last_activity_at"]).total_seconds()
        base: dict[str, Any] = {
            "job_id": job_id,
            "tenant": doc["tenant"],
            "attempt": attempt,
            "seq": STATUS_SEQ,
        }
        counters = Counters(**(doc.get("counters") or {}))
        log.warning("job.silent", job_id=job_id, attempt=attempt, status=doc["status"])
        # Attempts handed back were not lost: they use up none of the job's attempts.
        lost = attempt - len(doc.get("released_attempts") or ())
        if doc["status"] == JobStatus.CANCELLING.value:
            await self._publish(CrawlCancelled(**base, counters=counters))
        else:
            if doc["status"] == JobStatus.RUNNING.value:
                await self._publish(
                    CrawlStalled(**base, silent_seconds=silent, worker_id=doc.get("worker_id"))
                )
            if lost < self.max_attempts and doc.get("request"):
                await self._publish(_resume(doc, attempt, f"silent for {silent:.1f} s"))
            else:
                await self._publish(
                    CrawlFailed(
                        **base,
                        error_code="stalled",
                        error=(
                            f"no word from the crawler for {silent:.1f} s after "
                            f"{attempt} attempt(s)"
                        ),
                        counters=counters,
                    )
                )
        await self._mark(mark, job_id, now)
        return True

    async def released(self, event: CrawlReleased) -> bool:
        """A worker handed ``event.attempt`` back (``event`` projected already): ask for the
        next attempt, once, if it is still the job's current one; whether it was asked."""
        lock, users = self._releasing.setdefault(event.job_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                return await self._resume_released(event)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._releasing[event.job_id]

    async def _resume_released(self, event: CrawlReleased) -> bool:
        job_id, attempt = event.job_id, event.attempt
        doc = await self.crawls.find_one(
            {"_id": job_id}, {"status": 1, "attempt": 1, "tenant": 1, "request": 1}
        )
        if doc is None or doc["status"] in TERMINAL_STATUSES or not doc.get("request"):
            log.info("job.release_ignored", job_id=job_id, attempt=attempt, why="not running")
            return False
        if int(doc.get("attempt", 1)) != attempt:  # resumed already, or a later attempt runs
            log.info("job.release_ignored", job_id=job_id, attempt=attempt, why="stale attempt")
            return False
        mark = stall_mark_id(job_id, attempt)
        if await self.marks.find_one({"_id": mark}) is not None:
            log.info("job.release_ignored", job_id=job_id, attempt=attempt, why="resumed already")
            return False
        log.info("job.released", job_id=job_id, attempt=attempt, worker_id=event.worker_id)
        reason = f"handed back by worker {event.worker_id} ({event.reason})"
        await self._publish(_resume(doc, attempt, reason))
        await self._mark(mark, job_id, utcnow())
        return True

    async def _mark(self, mark: str, job_id: str, at: datetime) -> None:
        """The attempt is handled: ``mark`` is written once its messages were confirmed."""
        # Another replica may have handled it as well: both published the same decision.
        with contextlib.suppress(DuplicateKeyError):
            await self.marks.insert_one({"_id": mark, "job_id": job_id, "at": at})


def _resume(doc: dict[str, Any], attempt: int, reason: str) -> CrawlResumeRequested:
    """The command for the attempt after ``attempt`` of the job ``doc``."""
    return CrawlResumeRequested(
        job_id=doc["_id"],
        tenant=doc["tenant"],
        attempt=attempt + 1,
        request=CrawlRequest(**doc["request"]),
        reason=reason,
    )
