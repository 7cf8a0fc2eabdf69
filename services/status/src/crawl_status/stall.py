"""Stall detection: a job whose worker fell silent is resumed by another, up to a limit.

A job is silent when it is ``running``, ``cancelling`` or ``stalled`` and its last event is
older than ``stall_after`` (crawlers send a heartbeat every few seconds), measured on the
projection's clock (the caller passes the time the projection has reached, so a backlog in the
status service does not look like a silent crawler). For each silent
attempt the detector publishes, once:

- ``cancelling``: ``CrawlCancelled`` (its worker died while stopping; there is nothing to stop);
- otherwise ``CrawlStalled`` and then ``CrawlResumeRequested`` for the next attempt, which a
  crawler claims and resumes from the checkpoint; or, once ``max_attempts`` are used up,
  ``CrawlFailed`` with ``error_code="stalled"``.

Where silent jobs are looked for: the watched jobs are followed in memory (every job document
this replica writes is passed to :meth:`StallDetector.note`), so a scan reads only the
documents of jobs that look silent, each by ``_id``. At the first scan and every
``full_scan_every`` seconds, the whole ``crawls`` collection is queried for watched jobs
instead, and each one found is followed from then on: those other replicas project, and
those this one projected before a restart. That query is a scan of every job document
on a server that cannot use the ``status`` index for it (FerretDB v1 reads and decodes each
one): once a minute rather than every few seconds, it stays affordable as history grows.

"Once" is kept by a mark per (job, attempt) in ``crawl_stall_marks``, written after the
messages were confirmed: a detector that dies in between publishes them again, which is
harmless (the projection is idempotent and a resume's attempt can be claimed only once), and
several status replicas may scan at the same time for the same reason.

Messages this service emits carry the job's attempt and a sequence number above any a crawler
uses (:data:`STATUS_SEQ`), so its decision outranks a late word from a presumed-dead worker.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crawl_contracts import (
    Counters,
    CrawlCancelled,
    CrawlFailed,
    CrawlRequest,
    CrawlResumeRequested,
    CrawlStalled,
    Envelope,
    JobStatus,
)

__all__ = ["STATUS_SEQ", "StallDetector"]

log = structlog.get_logger("crawl_status.stall")

STATUS_SEQ = 10**11  # above any crawler's sequence numbers, below the ordering_number radix
_WATCHED = [JobStatus.RUNNING.value, JobStatus.CANCELLING.value, JobStatus.STALLED.value]

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
        full_scan_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.crawls = database["crawls"]
        self.marks = database["crawl_stall_marks"]
        self._publish = publish
        self.stall_after = timedelta(seconds=stall_after)
        self.max_attempts = max_attempts
        self.full_scan_every = full_scan_every
        self._clock = clock
        self._next_full_scan: float | None = None  # None: the next scan is a full one
        # Jobs this replica last wrote in a watched status: job id -> last activity.
        self._watched: dict[str, datetime] = {}

    def note(self, document: Mapping[str, Any]) -> None:
        """A job document as this replica wrote (or found) it."""
        job_id = str(document["_id"])
        last_activity = document.get("last_activity_at")
        if document.get("status") in _WATCHED and last_activity is not None:
            self._watched[job_id] = last_activity
        else:
            self._watched.pop(job_id, None)

    async def scan(self, now: datetime, *, batch: int = 500) -> int:
        """Handle every silent job found; returns how many were handled."""
        handled = 0
        async for doc in self._silent(now - self.stall_after, batch):
            if await self._handle(doc, now):
                handled += 1
        return handled

    async def _silent(self, before: datetime, batch: int) -> AsyncIterator[dict[str, Any]]:
        """Watched jobs whose last activity is older than ``before``: from the whole
        collection when a full scan is due (every watched job found there is followed from
        then on, wherever it was projected), else from the jobs followed in memory (each
        read again, as stored now)."""
        if self._next_full_scan is None or self._clock() >= self._next_full_scan:
            watched = await self.crawls.find({"status": {"$in": _WATCHED}}).to_list()
            self._next_full_scan = self._clock() + self.full_scan_every  # once it succeeded
            for doc in watched:
                self.note(doc)
            silent = [doc for doc in watched if doc["last_activity_at"] < before]
            for doc in silent[:batch]:
                yield doc
            return
        candidates = [job for job, at in self._watched.items() if at < before][:batch]
        for job_id in candidates:
            found = await self.crawls.find_one({"_id": job_id})
            if found is None:
                self._watched.pop(job_id, None)
                continue
            self.note(found)  # another replica may have written it since
            if found.get("status") in _WATCHED and found["last_activity_at"] < before:
                yield found

    async def _handle(self, doc: dict[str, Any], now: datetime) -> bool:
        job_id, attempt = doc["_id"], int(doc.get("attempt", 1))
        mark = f"{job_id}:{attempt}"
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
        if doc["status"] == JobStatus.CANCELLING.value:
            await self._publish(CrawlCancelled(**base, counters=counters))
        else:
            if doc["status"] == JobStatus.RUNNING.value:
                await self._publish(
                    CrawlStalled(**base, silent_seconds=silent, worker_id=doc.get("worker_id"))
                )
            if attempt < self.max_attempts and doc.get("request"):
                await self._publish(
                    CrawlResumeRequested(
                        job_id=job_id,
                        tenant=doc["tenant"],
                        attempt=attempt + 1,
                        request=CrawlRequest(**doc["request"]),
                        reason=f"silent for {silent:.1f} s",
                    )
                )
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
        # Another replica may have handled it as well: both published the same decision.
        with contextlib.suppress(DuplicateKeyError):
            await self.marks.insert_one({"_id": mark, "job_id": job_id, "at": now})
        return True
