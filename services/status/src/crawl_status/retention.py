"""Retention: finished jobs, their pages, logs and dead-letter records expire.

The reducer gives a finished job ``expires_at`` (``finished_at`` + the retention period) and
the store copies it onto the job's pages and logs. Where the server has TTL indexes (MongoDB)
they remove expired documents; where it has none (FerretDB v1, detected at start-up from
``buildInfo``) :meth:`Retention.sweep` runs periodically and deletes expired jobs with
everything that belongs to them, children first, so nothing is orphaned if a sweep stops
half-way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from crawl_mongo import create_query_index, server_traits

__all__ = ["Retention"]

log = structlog.get_logger("crawl_status.retention")

_CHILDREN = ("crawl_pages", "crawl_logs", "crawl_dead_letters", "crawl_stall_marks")


class Retention:
    """Creates the expiry indexes and, without TTL support, sweeps expired jobs."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._db = database
        self.ttl = False

    async def start(self) -> None:
        # FerretDB v1 accepts the TTL option but never deletes: recognised by name
        # (``crawl_mongo``) rather than by trying.
        traits = await server_traits(self._db)
        self.ttl = traits.ttl_indexes
        for name in ("crawls", *_CHILDREN):
            if self.ttl:
                await self._db[name].create_index(
                    [("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"
                )
            else:  # for the sweep's query
                await create_query_index(
                    self._db[name], [("expires_at", ASCENDING)], traits, name="expires_at"
                )
        log.info("retention.ready", ttl_indexes=self.ttl)

    async def sweep(self, now: datetime, *, batch: int = 200) -> int:
        """Delete up to ``batch`` expired jobs with their pages, logs and dead letters."""
        crawls = self._db["crawls"]
        expired = crawls.find({"expires_at": {"$lt": now}}, {"_id": 1}).limit(batch)
        job_ids = [doc["_id"] async for doc in expired]
        for job_id in job_ids:
            for name in _CHILDREN:
                await self._db[name].delete_many({"job_id": job_id})
            await crawls.delete_one({"_id": job_id, "expires_at": {"$lt": now}})
        if job_ids:
            log.info("retention.swept", jobs=len(job_ids))
        return len(job_ids)
