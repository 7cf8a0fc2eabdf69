"""The API's only module that talks to MongoDB.

The API writes nothing to the projection but the initial ``pending`` document, once the broker
confirmed the job's command (so a job is readable the instant its id is returned). Everything
else is read-only.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from bson import CodecOptions, decode, encode
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from crawl_api.recent import RecentJobs
from crawl_contracts import TERMINAL_STATUSES, CrawlRequested
from crawl_mongo.groupcommit import GroupCommit, Outcomes
from crawl_schema import JOB_SUMMARY_FIELDS, names, new_job_document

__all__ = ["JobStore", "RecordWriter"]

_AS_STORED: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)  # as a read returns it
_DUPLICATE_KEY_CODES = (11000, 11001, 12582)  # as pymongo recognises duplicate keys
_FINISHED_KEPT = 10_000  # finished jobs' summaries remembered (about 1 KB each)
_SUMMARY = dict.fromkeys(JOB_SUMMARY_FIELDS, 1)


class JobStore:
    def __init__(
        self, database: AsyncDatabase[dict[str, Any]], recent: RecentJobs | None = None
    ) -> None:
        self.crawls = database[names.CRAWLS]
        self._finished: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.recent = recent or RecentJobs(0)  # documents served again until they change
        self._records = RecordWriter(self.crawls)

    async def record_pending(self, command: CrawlRequested) -> None:
        """Insert the job's first document, as the status service's reducer makes it from the
        same command (both build it with ``crawl_schema.new_job_document``), and remember it
        as a read would return it: a client's first poll after submitting is answered without
        a read (until a change notice or the cache's time limit, as any read document).

        Called once the broker confirmed the command, so the record is the command's first
        projection (version 1): the status service, which projects the same command, finds
        nothing to change. ``DuplicateKeyError`` means it was there first."""
        document = {
            **new_job_document(
                command.job_id,
                command.tenant,
                request=command.request.model_dump(mode="json"),
                submitted_by=command.submitted_by,
                created_at=command.occurred_at,
            ),
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

    async def summaries(self, job_ids: list[str], tenant: str) -> dict[str, dict[str, Any]]:
        """What lists show of these jobs (``JOB_SUMMARY_FIELDS``), by id; those of another
        tenant are missing. A finished job's summary is remembered (up to
        ``_FINISHED_KEPT`` of them): terminal states are absorbing, so it never changes, and a
        history of runs reads only its unfinished jobs again."""
        found = {i: self._finished[i] for i in job_ids if i in self._finished}
        for job_id in found:
            self._finished.move_to_end(job_id)
        found = {i: doc for i, doc in found.items() if doc.get("tenant") == tenant}
        missing = [i for i in dict.fromkeys(job_ids) if i not in found]
        if missing:
            query = {"_id": {"$in": missing}, "tenant": tenant}
            async for doc in self.crawls.find(query, _SUMMARY):
                found[doc["_id"]] = doc
                if doc.get("status") in TERMINAL_STATUSES:
                    self._finished[doc["_id"]] = doc
        while len(self._finished) > _FINISHED_KEPT:
            self._finished.popitem(last=False)
        return found


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
