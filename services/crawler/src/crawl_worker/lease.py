"""Job claims: a lease per job in the crawler's own collection, renewed by heartbeats.

The ``crawler_leases`` document of a job (``_id`` = job id) says which worker holds which
attempt of it until when, carries the latest checkpoint of that attempt, and whether a cancel
was heard for it. Every change is one ``find_one_and_update`` with a filter, so two workers
can never both hold one attempt (on MongoDB 7 as on FerretDB):

- claim: attempt ``n`` is taken if the stored attempt is lower, or is ``n`` with an expired
  lease (its holder died before it could start the crawl); an upsert that collides with the
  existing document means "someone else holds it".
- renew: only the holder of the current attempt may extend the lease; a worker whose renewal
  matches nothing has lost the job to a resumed attempt and must stop without a word.

The crawler reads (never writes) the status service's ``crawls`` document at claim time, so a
job cancelled before any crawler heard the broadcast is not crawled.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from crawl_contracts import TERMINAL_STATUSES, JobStatus
from crawl_contracts.envelope import utcnow
from crawl_mongo import create_query_index, server_traits

__all__ = ["Claim", "ClaimState", "LeaseStore"]

LEASES = "crawler_leases"


class ClaimState(enum.Enum):
    CLAIMED = "claimed"  # this worker now holds the attempt
    HELD = "held"  # another worker holds this attempt and its lease is alive
    DONE = "done"  # the job finished, or a later attempt exists: nothing to do


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    attempt: int = 0
    checkpoint: dict[str, Any] | None = None
    cancel_requested: bool = False
    deadline_at: datetime | None = None
    lease_until: datetime | None = None


class LeaseStore:
    """Claims, renews and releases jobs for one worker."""

    def __init__(
        self, database: AsyncDatabase[dict[str, Any]], worker_id: str, lease_seconds: float
    ) -> None:
        self.leases = database[LEASES]
        self.crawls = database["crawls"]
        self.worker_id = worker_id
        self.lease = timedelta(seconds=lease_seconds)

    async def ensure_indexes(self) -> None:
        """Nothing beyond ``_id`` is queried on the hot path; ``finished`` serves operators'
        queries, where the server uses such indexes (``crawl_mongo``)."""
        await create_query_index(self.leases, "finished", await server_traits(self.leases.database))

    async def claim(self, job_id: str, attempt: int, max_duration: float) -> Claim:
        """Take ``attempt`` of ``job_id``; the deadline is set by the first attempt only."""
        now = utcnow()
        # The job's status is read while the lease is taken (two round trips at once).
        status_read = asyncio.ensure_future(
            self.crawls.find_one({"_id": job_id}, {"status": 1, "cancel_requested_at": 1})
        )
        try:
            doc = await self.leases.find_one_and_update(
                {
                    "_id": job_id,
                    "finished": {"$ne": True},
                    "$or": [
                        {"attempt": {"$lt": attempt}},
                        {"attempt": attempt, "lease_until": {"$lt": now}},
                    ],
                },
                {
                    "$set": {
                        "owner": self.worker_id,
                        "attempt": attempt,
                        "lease_until": now + self.lease,
                        "heartbeat_at": now,
                    },
                    # The first claim creates the document: the deadline starts with it.
                    "$setOnInsert": {"deadline_at": now + timedelta(seconds=max_duration)},
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
        deadline = doc.get("deadline_at")
        if deadline is None:  # created by a cancel broadcast before the first claim
            deadline = now + timedelta(seconds=max_duration)
            await self.leases.update_one({"_id": job_id}, {"$set": {"deadline_at": deadline}})
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
            doc.get("checkpoint"),
            cancelled,
            deadline,
            doc.get("lease_until"),
        )

    async def _why_not(self, job_id: str, attempt: int) -> Claim:
        doc = await self.leases.find_one({"_id": job_id})
        if doc is None or doc.get("finished") or int(doc.get("attempt", 0)) > attempt:
            return Claim(ClaimState.DONE)
        return Claim(ClaimState.HELD, attempt, lease_until=doc.get("lease_until"))

    async def renew(
        self, job_id: str, attempt: int, checkpoint: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Extend this worker's lease (and store a checkpoint); ``None`` if it was lost."""
        now = utcnow()
        update: dict[str, Any] = {"lease_until": now + self.lease, "heartbeat_at": now}
        if checkpoint is not None:
            update["checkpoint"] = checkpoint
        renewed = await self.leases.update_one(
            {"_id": job_id, "owner": self.worker_id, "attempt": attempt}, {"$set": update}
        )
        if renewed.matched_count == 0:
            return None
        # A separate read: FerretDB v1 has no projection in findAndModify, and the checkpoint
        # just written need not travel back.
        return await self.leases.find_one({"_id": job_id}, {"cancel_requested": 1, "owner": 1})

    async def finish(self, job_id: str, attempt: int) -> None:
        """The attempt reached its terminal event: no one may claim the job again."""
        await self.leases.update_one(
            {"_id": job_id, "owner": self.worker_id, "attempt": attempt},
            {"$set": {"finished": True, "finished_at": utcnow()}, "$unset": {"checkpoint": ""}},
        )

    async def request_cancel(self, job_id: str) -> None:
        """Remember a cancel broadcast, so whoever claims the job later stops it at once."""
        await self.leases.update_one(
            {"_id": job_id},
            {"$set": {"cancel_requested": True}, "$setOnInsert": {"attempt": 0}},
            upsert=True,
        )
