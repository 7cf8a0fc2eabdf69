"""The only module of the status service that talks to MongoDB.

Errors::

    StoreError                     base
    └── ConcurrentUpdateError      a job document kept changing under us (retry the message)

Driver errors (``pymongo.errors.PyMongoError``) pass through: the subscriber treats them as
transient and lets the broker redeliver.

Writes to one job document are compare-and-set on a ``version`` field. FerretDB v1 can lose
concurrent updates of one document, so on top of that each replica applies one job's messages
serially (a keyed lock); several replicas stay correct because the CAS rejects a stale write.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crawl_contracts import CrawlLogged, Message, PageRecorded
from crawl_status.projection import (
    JobDocument,
    log_document,
    page_document,
    reduce_job,
    touches_job,
)

__all__ = ["ConcurrentUpdateError", "ProjectionStore", "StoreError"]

_CAS_ATTEMPTS = 100


class StoreError(Exception):
    """Base of the store's errors."""


class ConcurrentUpdateError(StoreError):
    """The job document changed on every attempt to write it."""


class ProjectionStore:
    """Applies messages to the ``crawls``, ``crawl_pages`` and ``crawl_logs`` collections."""

    def __init__(
        self, database: AsyncDatabase[dict[str, Any]], *, retention: timedelta | None = None
    ) -> None:
        self._db = database
        self._retention = retention
        self.crawls = database["crawls"]
        self.pages = database["crawl_pages"]
        self.logs = database["crawl_logs"]
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._lock_users: defaultdict[str, int] = defaultdict(int)

    async def ensure_indexes(self) -> None:
        """Indexes both MongoDB 7 and FerretDB v1 support."""
        await self.crawls.create_index([("tenant", ASCENDING), ("created_at", DESCENDING)])
        await self.crawls.create_index([("status", ASCENDING)])
        await self.pages.create_index([("job_id", ASCENDING), ("order", ASCENDING)])
        await self.logs.create_index([("job_id", ASCENDING), ("order", ASCENDING)])

    async def apply(self, message: Message) -> None:
        """Project one message. Idempotent: applying it again changes nothing."""
        # One job's messages are applied one at a time in delivery order (the lock is FIFO),
        # so a terminal status is never visible before the pages published ahead of it.
        async with self._job_lock(message.job_id):
            if isinstance(message, PageRecorded):
                await self._upsert_newer(self.pages, page_document(message))
            elif isinstance(message, CrawlLogged):
                await self._insert_once(self.logs, log_document(message))
            if touches_job(message):
                await self._reduce_into_job(message)

    async def get_job(self, job_id: str) -> JobDocument | None:
        return await self.crawls.find_one({"_id": job_id})

    async def _reduce_into_job(self, message: Message) -> None:
        for _ in range(_CAS_ATTEMPTS):
            current = await self.crawls.find_one({"_id": message.job_id})
            if current is None:
                created = reduce_job(None, message, retention=self._retention)
                try:
                    await self.crawls.insert_one({**created, "version": 1})
                except DuplicateKeyError:
                    continue  # created meanwhile (by the API or another replica): reduce again
                await self._stamp_expiry(None, created)
                return
            version = current.pop("version", 0)
            updated = reduce_job(current, message, retention=self._retention)
            if updated == current:
                return  # a duplicate or an event that changes nothing
            result = await self.crawls.replace_one(
                {"_id": message.job_id, "version": version}, {**updated, "version": version + 1}
            )
            if result.matched_count == 1:
                await self._stamp_expiry(current, updated)
                return
        raise ConcurrentUpdateError(f"job {message.job_id} kept changing")

    async def _stamp_expiry(self, before: JobDocument | None, after: JobDocument) -> None:
        """When a job's ``expires_at`` is set or moves, its pages and logs follow (so TTL
        indexes, where the server has them, remove them with the job)."""
        expires_at = after.get("expires_at")
        if expires_at is None or (before is not None and before.get("expires_at") == expires_at):
            return
        for collection in (self.pages, self.logs):
            await collection.update_many(
                {"job_id": after["_id"]}, {"$set": {"expires_at": expires_at}}
            )

    @staticmethod
    async def _upsert_newer(collection: Any, document: dict[str, Any]) -> None:
        """Write ``document`` unless a version with a higher ``order`` is already stored.

        Insert first: a URL is nearly always recorded once, and on FerretDB v1 an insert is a
        primary-key write while any update or filtered replace scans the whole collection
        (about 35 ms per update at 4,000 pages, growing with the collection). Only a
        duplicate (redelivery, resumed attempt) pays for the read and the replace.
        """
        try:
            await collection.insert_one(document)
        except DuplicateKeyError:
            stored = await collection.find_one({"_id": document["_id"]}, {"order": 1})
            if stored is None or stored.get("order", -1) < document["order"]:
                await collection.replace_one({"_id": document["_id"]}, document, upsert=True)

    @staticmethod
    async def _insert_once(collection: Any, document: dict[str, Any]) -> None:
        with contextlib.suppress(DuplicateKeyError):  # redelivered
            await collection.insert_one(document)

    @asynccontextmanager
    async def _job_lock(self, job_id: str) -> AsyncIterator[None]:
        self._lock_users[job_id] += 1
        try:
            async with self._locks[job_id]:
                yield
        finally:
            self._lock_users[job_id] -= 1
            if self._lock_users[job_id] == 0:
                del self._lock_users[job_id]
                del self._locks[job_id]
