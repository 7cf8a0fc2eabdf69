"""The API's only module that talks to MongoDB.

The API writes nothing to the projection but the initial ``pending`` document, once the broker
confirmed the job's command (so a job is readable the instant its id is returned). Everything
else is read-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import CodecOptions, decode, encode
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from crawl_api.recent import RecentJobs
from crawl_contracts import CrawlRequested, JobStatus
from crawl_mongo.groupcommit import GroupCommit, Outcomes

__all__ = ["JobStore", "RecordWriter"]

_AS_STORED: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)  # as a read returns it
_DUPLICATE_KEY_CODES = (11000, 11001, 12582)  # as pymongo recognises duplicate keys

_PAGE_LIST_FIELDS = {
    "_id": 1,
    "url": 1,
    "outcome": 1,
    "reason": 1,
    "http_status": 1,
    "depth": 1,
    "attempts": 1,
    "title": 1,
    "language": 1,
    "description": 1,
    "content_hash": 1,
    "final_url": 1,
    "content_type": 1,
    "markdown": 1,
}


class JobStore:
    def __init__(
        self, database: AsyncDatabase[dict[str, Any]], recent: RecentJobs | None = None
    ) -> None:
        self.crawls = database["crawls"]
        self.page_docs = database["crawl_pages"]
        self.recent = recent or RecentJobs(0)  # documents served again until they change
        self._records = RecordWriter(self.crawls)

    async def record_pending(self, command: CrawlRequested) -> None:
        """Insert the job's first document, shaped as the status service's reducer shapes it
        from the same command (the reducer fills in the rest), and remember it as a read
        would return it: a client's first poll after submitting is answered without a read
        (until a change notice or the cache's time limit, as any read document).

        Called once the broker confirmed the command, so the record is the command's first
        projection (version 1): the status service, which projects the same command, finds
        nothing to change. ``DuplicateKeyError`` means it was there first."""
        document = {
            "_id": command.job_id,
            "tenant": command.tenant,
            "request": command.request.model_dump(mode="json"),
            "submitted_by": command.submitted_by,
            "status": JobStatus.PENDING.value,
            "counters": {
                "discovered": 0,
                "queued": 0,
                "in_flight": 0,
                "fetched": 0,
                "failed": 0,
                "skipped": 0,
            },
            "created_at": command.occurred_at,
            "last_activity_at": command.occurred_at,
            "version": 1,
        }
        token = self.recent.token()
        await self._records.insert(document)
        # The BSON round trip: millisecond times, as stored and read back.
        self.recent.put(command.job_id, decode(encode(document), codec_options=_AS_STORED), token)

    async def get(self, job_id: str, tenant: str) -> dict[str, Any] | None:
        """The job document as stored now (and remembered in ``recent``)."""
        token = self.recent.token()
        doc = await self.crawls.find_one({"_id": job_id, "tenant": tenant})
        if doc is not None:
            self.recent.put(job_id, doc, token)  # notes its version even when not kept
        return doc

    async def pages(self, job_id: str, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Pages of one job in ``_id`` order (a per-job range scan on the ``_id`` index)."""
        lower = {"$gt": after} if after else {"$gte": f"{job_id}:"}
        query = {"_id": {**lower, "$lt": f"{job_id};"}}  # ';' sorts right after ':'
        cursor = self.page_docs.find(query, _PAGE_LIST_FIELDS).sort("_id", 1).limit(limit)
        return [doc async for doc in cursor]


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


class RecordWriter:
    """Inserts documents, those of concurrent callers together (``GroupCommit``: callers that
    arrive while an insert is in flight go out in the next one, as one unordered
    ``insert_many``; a lone caller's insert leaves at once). Under a burst of submissions that
    is one round trip and one database transaction for many records instead of one each.

    Each caller gets its own document's outcome: ``DuplicateKeyError`` if its ``_id`` was
    taken, ``WriteError`` for another refusal of that document. When the whole insert fails
    otherwise, each caller's document is inserted again on its own, so only a caller whose
    document is what failed gets the error."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._collection = collection
        self._group = GroupCommit(self._insert_all)

    async def insert(self, document: dict[str, Any]) -> None:
        await self._group.write([document])

    async def _insert_all(self, documents: list[dict[str, Any]]) -> Outcomes:
        try:
            await self._collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            return _outcomes(exc, len(documents))
        return None


def _outcomes(exc: BulkWriteError, count: int) -> list[BaseException | None]:
    """Each document's outcome in an unordered ``insert_many`` that raised ``exc``."""
    refused = {int(e["index"]): e for e in exc.details.get("writeErrors", [])}
    outcomes: list[BaseException | None] = []
    for index in range(count):
        error = refused.get(index)
        if error is None:
            # Written, unless the write concern was not met: then its fate is unknown.
            outcomes.append(exc if exc.details.get("writeConcernErrors") else None)
        elif error.get("code") in _DUPLICATE_KEY_CODES:
            outcomes.append(DuplicateKeyError(error.get("errmsg", ""), error.get("code"), error))
        else:
            outcomes.append(WriteError(error.get("errmsg", ""), error.get("code"), error))
    return outcomes
