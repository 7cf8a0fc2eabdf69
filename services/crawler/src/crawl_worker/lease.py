"""Job claims and durable crawl state, in the crawler's own collections (``crawl_schema.state``).

The ``crawler_leases`` document of a job (``_id`` = job id) says which worker holds which
attempt of it until when, how many pieces of durable state each attempt committed, and whether
a cancel was heard for it. Every change is one ``find_one_and_update`` with a filter, so two
workers can never both hold one attempt (on MongoDB 7 as on FerretDB):

- claim: attempt ``n`` is taken once the stored attempt's lease has run out, if that attempt
  is lower (a resumed attempt) or is ``n`` (its holder died before it could start the crawl);
  an upsert that collides with the existing document means "someone else holds it". So two
  attempts never run at once: the one before stops fetching before its lease runs out, and
  can commit nothing after that.
- commit: the pieces of state are inserted (``crawler_state``), then the lease is renewed and
  names them, in one update that only the holder of the current attempt can make. A piece the
  lease does not name was never committed and is never read; a worker whose commit matches
  nothing has lost the job to a resumed attempt and must stop without a word.
- release: a worker that stops hands its attempt ``n`` back after its last commit; the lease
  then names attempt ``n + 1``, with no owner and no ``lease_until``, so that attempt (the one
  the status service asks for next) is claimed at once, whatever the clocks say, and attempt
  ``n`` never again (its events are in the ledger: a second run of it would repeat their
  ordering keys).

:class:`LeaseGate` is what the crawl waits on before each visit: it stays open while the
lease has more than ``margin`` seconds left as this worker last renewed it, so no visit starts
that could outlast the lease; a commit that succeeds again opens it.

The crawler reads (never writes) the status service's ``crawls`` document at claim time, so a
job cancelled before any crawler heard the broadcast is not crawled.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from crawl_contracts import TERMINAL_STATUSES, JobStatus
from crawl_contracts.envelope import utcnow
from crawl_schema import ensure_indexes, names
from crawl_schema.keys import job_range, state_chunk_range
from crawl_worker.state import CrawlState, StateBuilder

__all__ = ["Claim", "ClaimState", "LeaseGate", "LeaseStore"]

_DUPLICATE_KEY = 11000
_DELETE_BATCH = 1000


class ClaimState(enum.Enum):
    CLAIMED = "claimed"  # this worker now holds the attempt
    HELD = "held"  # another worker holds this attempt and its lease is alive
    DONE = "done"  # the job finished, or a later attempt exists: nothing to do


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    attempt: int = 0  # claimed; when HELD, the attempt that holds the job
    pieces: dict[int, int] = field(default_factory=dict)  # committed pieces per attempt
    cancel_requested: bool = False
    deadline_at: datetime | None = None
    lease_until: datetime | None = None


class LeaseStore:
    """Claims, commits and releases jobs for one worker."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        worker_id: str,
        lease_seconds: float,
        *,
        retention: float = 7 * 24 * 3600.0,
    ) -> None:
        self.leases = database[names.CRAWLER_LEASES]
        self.state = database[names.CRAWLER_STATE]
        self.crawls = database[names.CRAWLS]
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)
        self.retention = timedelta(seconds=retention)

    async def ensure_indexes(self) -> None:
        """Only ``_id`` is read; where the server deletes by TTL, leases expire by it."""
        await ensure_indexes(self.leases.database, names.CRAWLER_LEASES, names.CRAWLER_STATE)

    async def claim(self, job_id: str, attempt: int, max_duration: float) -> Claim:
        """Take ``attempt`` of ``job_id``; the deadline is set by the first attempt only."""
        now = utcnow()
        # The job's status is read while the lease is taken (two round trips at once).
        status_read = asyncio.ensure_future(
            self.crawls.find_one({"_id": job_id}, {"status": 1, "cancel_requested_at": 1})
        )
        deadline = now + timedelta(seconds=max_duration)
        try:
            doc = await self.leases.find_one_and_update(
                {
                    "_id": job_id,
                    "finished": {"$ne": True},
                    "attempt": {"$lte": attempt},
                    "$or": [{"lease_until": {"$lt": now}}, {"lease_until": None}],
                },
                {
                    "$set": {
                        "owner": self.worker_id,
                        "attempt": attempt,
                        "lease_until": now + self.lease,
                        "heartbeat_at": now,
                    },
                    # The first claim creates the document: the deadline starts with it.
                    "$setOnInsert": {
                        "deadline_at": deadline,
                        "expires_at": deadline + self.retention,
                    },
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            await asyncio.gather(status_read, return_exceptions=True)
            return await self._why_not(job_id, attempt)
        except BaseException:
            status_read.cancel()
            raise
        try:
            status = await status_read
        except PyMongoError:  # the lease is ours now: crawl; a cancel still reaches it
            status = None  # (a finished job's lease is marked finished: never claimed)
        if doc is None:  # pragma: no cover - upsert always returns a document
            return await self._why_not(job_id, attempt)
        if status is not None and status.get("status") in TERMINAL_STATUSES:
            await self.finish(job_id, attempt)  # finished already: the claim is not needed
            return Claim(ClaimState.DONE)
        if doc.get("deadline_at") is None:  # created by a cancel broadcast before any claim
            await self.leases.update_one(
                {"_id": job_id},
                {"$set": {"deadline_at": deadline, "expires_at": deadline + self.retention}},
            )
            doc["deadline_at"] = deadline
        cancelled = bool(doc.get("cancel_requested")) or (
            status is not None
            and (
                status.get("cancel_requested_at") is not None
                or status.get("status") == JobStatus.CANCELLING.value
            )
        )
        return Claim(
            ClaimState.CLAIMED,
            attempt,
            {int(a): int(n) for a, n in (doc.get("pieces") or {}).items()},
            cancelled,
            doc["deadline_at"],
            doc.get("lease_until"),
        )

    async def _why_not(self, job_id: str, attempt: int) -> Claim:
        doc = await self.leases.find_one({"_id": job_id})
        if doc is None or doc.get("finished") or int(doc.get("attempt", 0)) > attempt:
            return Claim(ClaimState.DONE)
        held = int(doc.get("attempt", 0))
        return Claim(ClaimState.HELD, held, lease_until=doc.get("lease_until"))

    async def load(self, job_id: str, pieces: dict[int, int]) -> CrawlState:
        """The state every committed piece of the job adds up to (read a few at a time)."""
        builder = StateBuilder()
        for attempt in sorted(pieces):
            window = state_chunk_range(job_id, attempt, pieces[attempt])
            async for piece in self.state.find({"_id": window}).sort("_id", 1).batch_size(8):
                builder.add(piece)
        return builder.build()

    async def commit(
        self, job_id: str, attempt: int, docs: list[dict[str, Any]], pieces: dict[int, int]
    ) -> dict[str, Any] | None:
        """Store ``docs`` (pieces of state) and renew this worker's lease, naming ``pieces``;
        the lease as it is now, or ``None`` if this worker lost it. Safe to repeat: pieces
        already stored by an earlier try are kept."""
        if docs:
            try:
                await self.state.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if exc.details.get("writeConcernErrors") or any(
                    e.get("code") != _DUPLICATE_KEY for e in errors
                ):
                    raise
        now = utcnow()
        return await self.leases.find_one_and_update(
            {"_id": job_id, "owner": self.worker_id, "attempt": attempt},
            {
                "$set": {
                    "lease_until": now + self.lease,
                    "heartbeat_at": now,
                    "pieces": {str(a): n for a, n in pieces.items()},
                }
            },
            return_document=ReturnDocument.AFTER,
        )

    async def finish(self, job_id: str, attempt: int) -> None:
        """The attempt reached its terminal event: no one may claim the job again, and its
        durable state is no longer needed."""
        await self.leases.update_one(
            {"_id": job_id, "owner": self.worker_id, "attempt": attempt},
            {"$set": {"finished": True, "finished_at": utcnow()}, "$unset": {"pieces": ""}},
        )
        while True:  # in batches: each command bounded however large the crawl was
            found = self.state.find({"_id": job_range(job_id)}, {"_id": 1}).limit(_DELETE_BATCH)
            ids = [doc["_id"] async for doc in found]
            if ids:
                await self.state.delete_many({"_id": {"$in": ids}})
            if len(ids) < _DELETE_BATCH:
                return

    async def release(self, job_id: str, attempt: int) -> bool:
        """Hand ``attempt`` of the job back (see the module doc); its committed pieces stay.
        ``False`` if this worker no longer held it."""
        now = utcnow()
        result = await self.leases.update_one(
            {"_id": job_id, "owner": self.worker_id, "attempt": attempt, "finished": {"$ne": True}},
            {
                "$set": {
                    "attempt": attempt + 1,
                    "owner": None,
                    "lease_until": None,
                    "released_at": now,
                    "released_by": self.worker_id,
                }
            },
        )
        return result.matched_count == 1

    async def request_cancel(self, job_id: str) -> None:
        """Remember a cancel broadcast, so whoever claims the job later stops it at once."""
        await self.leases.update_one(
            {"_id": job_id},
            {"$set": {"cancel_requested": True}, "$setOnInsert": {"attempt": 0}},
            upsert=True,
        )


class LeaseGate:
    """Open while this worker's lease has more than ``margin`` seconds left (monotonic time,
    from the start of the last successful renewal); see the module doc."""

    def __init__(self, valid_until: float, margin: float) -> None:
        self.valid_until = valid_until
        self.margin = margin
        self._renewed = asyncio.Event()
        self.given_up = False

    def left(self) -> float:
        """Seconds until the lease runs out, as far as this worker knows."""
        return self.valid_until - time.monotonic()

    @property
    def open(self) -> bool:
        return self.given_up or self.left() > self.margin

    def renewed(self, valid_until: float) -> None:
        self.valid_until = valid_until
        self._renewed.set()

    def give_up(self) -> None:
        """The lease ran out or was lost: let every waiter go (the crawl is abandoned)."""
        self.given_up = True
        self._renewed.set()

    async def wait(self) -> None:
        while not self.open:
            self._renewed.clear()
            await self._renewed.wait()
