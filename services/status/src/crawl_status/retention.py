"""Retention: finished jobs, and everything kept for them, expire.

The reducer gives a finished job ``expires_at`` (``finished_at`` + the retention period).
Where the server deletes by TTL indexes (MongoDB) the store copies it onto the job's pages and
logs, and the TTL indexes (:mod:`crawl_schema.indexes`) remove them. Where it does not
(FerretDB, detected at start-up from ``buildInfo``), :meth:`Retention.sweep` runs
periodically: it finds expired jobs on the ``expires_at`` index and deletes what belongs to
each (pages, logs, webhook deliveries, dead letters, stall marks, the crawler's lease and
state) in batches, children first, so nothing is orphaned if a sweep stops half-way; and
expired ``Idempotency-Key`` records and schedule fires. Every query is on an index: a sweep
costs what it deletes, whatever the history kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crawl_schema import names
from crawl_schema.keys import job_range
from crawl_schema.queries import expired_jobs

__all__ = ["Retention"]

log = structlog.get_logger("crawl_status.retention")

_BATCH = 1000  # documents deleted per command


class Retention:
    """Sweeps expired jobs where the server has no TTL indexes (``ttl`` false)."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], *, ttl: bool = False) -> None:
        self._db = database
        self.ttl = ttl

    async def sweep(self, now: datetime, *, batch: int = 200) -> int:
        """Delete up to ``batch`` expired jobs with what belongs to them, and expired
        idempotency records; returns how many jobs went."""
        crawls = self._db[names.CRAWLS]
        query = expired_jobs(now)
        expired = crawls.find(query.filter, {"_id": 1}).sort(query.sort).limit(batch)
        job_ids = [str(doc["_id"]) async for doc in expired]
        for job_id in job_ids:
            await self._delete_children(job_id)
            await crawls.delete_one({"_id": job_id, "expires_at": {"$lt": now}})
        keys = await _delete_in_batches(
            self._db[names.IDEMPOTENCY_KEYS], {"expires_at": {"$lt": now}}
        )
        fires = await _delete_in_batches(
            self._db[names.SCHEDULE_FIRES], {"expires_at": {"$lt": now}}
        )
        if job_ids or keys or fires:
            log.info(
                "retention.swept", jobs=len(job_ids), idempotency_keys=keys, schedule_fires=fires
            )
        return len(job_ids)

    async def _delete_children(self, job_id: str) -> None:
        children = job_range(job_id)
        for name, query in (
            (names.PAGES, {"job_id": job_id}),
            (names.LOGS, {"_id": children}),
            (names.WEBHOOK_DELIVERIES, {"_id": children}),
            (names.DEAD_LETTERS, {"job_id": job_id}),
            (names.STALL_MARKS, {"_id": children}),
            (names.CRAWLER_STATE, {"_id": children}),
            (names.CRAWLER_LEASES, {"_id": job_id}),
        ):
            await _delete_in_batches(self._db[name], query)


async def _delete_in_batches(collection: AsyncCollection[Any], query: dict[str, Any]) -> int:
    """Delete what ``query`` matches, ``_BATCH`` documents per command (each a bounded
    write, however much matches); returns how many."""
    deleted = 0
    while True:
        ids = [doc["_id"] async for doc in collection.find(query, {"_id": 1}).limit(_BATCH)]
        if not ids:
            return deleted
        result = await collection.delete_many({"_id": {"$in": ids}})
        deleted += result.deleted_count
        if len(ids) < _BATCH:
            return deleted
