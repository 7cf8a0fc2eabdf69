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
import base64
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from bson import CodecOptions, decode, encode
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crawl_contracts import (
    CrawlCancelled,
    CrawlCompleted,
    CrawlFailed,
    CrawlLogged,
    JobChanged,
    Message,
    PageRecorded,
)
from crawl_mongo.groupcommit import GroupCommit, settle
from crawl_schema import names
from crawl_schema.keys import job_range
from crawl_status.projection import (
    JobDocument,
    lifecycle_log,
    log_document,
    normalized,
    page_document,
    reduce_job,
    touches_job,
)

__all__ = ["ConcurrentUpdateError", "ProjectionStore", "StoreError"]

_CAS_ATTEMPTS = 100
_TERMINAL = (CrawlCompleted, CrawlFailed, CrawlCancelled)
_DUPLICATE_KEY = 11000
_KNOWN_JOBS = 10_000  # job documents remembered as last written (least recently used go)
_AS_STORED: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


class StoreError(Exception):
    """Base of the store's errors."""


class ConcurrentUpdateError(StoreError):
    """The job document changed on every attempt to write it."""


class ProjectionStore:
    """Applies messages to the ``crawls``, ``crawl_pages`` and ``crawl_logs`` collections."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        *,
        retention: timedelta | None = None,
        on_change: Callable[[JobChanged], None] | None = None,
    ) -> None:
        self._db = database
        self._retention = retention
        self._on_change = on_change
        # Copy a finished job's ``expires_at`` onto its pages and logs, for TTL indexes. Off
        # where the server has none: the retention sweep deletes children by job id, and the
        # copy is a scan of both collections per finished job there.
        self.stamp_children = True
        self.crawls = database[names.CRAWLS]
        self.pages = database[names.PAGES]
        self.logs = database[names.LOGS]
        # Per job: messages waiting for the job's drain task, in the order they arrived here.
        self._waiting: dict[str, list[tuple[Message, asyncio.Future[None]]]] = {}
        self._drains: set[asyncio.Task[None]] = set()
        # Per job with a drain waiting on page and log writes: set when a message arrives.
        self._arrivals: dict[str, asyncio.Event] = {}
        # The job documents this store wrote last, as the server returns them: the next batch
        # of a job starts from here instead of reading the document back. A stale entry (another
        # replica wrote since) fails the compare-and-set and the document is read again.
        self._known: OrderedDict[str, JobDocument] = OrderedDict()
        self._page_writes = GroupCommit(partial(self._insert_many_newer, self.pages))
        self._log_writes = GroupCommit(partial(self._insert_many_once, self.logs))

    async def apply(self, message: Message) -> None:
        """Project one message; returns once it is stored. Idempotent: applying it again
        changes nothing.

        One job's messages are applied by one drain task at a time, in arrival order, in
        batches (group commit): the pages and logs that arrived meanwhile go in with one
        ``insert_many`` each, then the job document is reduced over the whole batch and written
        once. A batch of pages and logs alone does not hold up the next batch; a write of the
        job document that ends the job waits for every page and log write of the job before
        it, so a terminal status is never visible before the pages published ahead of it (the
        log line the ending event itself stands for is written at the same time as it).
        (Other writes of the job document go at the same time as their batch's pages and
        logs: a reader may see a status or counters a moment before the lines beside them.)
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(message.job_id)
        if waiting is None:
            self._waiting[message.job_id] = [(message, done)]
            task = asyncio.create_task(self._drain(message.job_id))
            self._drains.add(task)
            task.add_done_callback(self._drains.discard)
        else:
            waiting.append((message, done))
            arrived = self._arrivals.get(message.job_id)
            if arrived is not None:
                arrived.set()
        await done

    async def _drain(self, job_id: str) -> None:
        # This job's page and log writes still in flight, of batches that change nothing
        # else: the next batch starts at once, and a job-document write waits for them.
        children: list[asyncio.Future[None]] = []
        while True:
            batch = self._waiting.get(job_id)
            if not batch:
                if not children:
                    break
                # Until those writes end or another message of the job arrives.
                arrived = self._arrivals.setdefault(job_id, asyncio.Event())
                arrived.clear()
                waiting: asyncio.Future[Any] = asyncio.ensure_future(arrived.wait())
                await asyncio.wait([*children, waiting], return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                children = [write for write in children if not write.done()]
                continue
            self._waiting[job_id] = []
            messages = [message for message, _ in batch]
            ending = [m for m in messages if isinstance(m, _TERMINAL)]
            # The line an ending event stands for is not one the ending waits for: it goes
            # with the job document's write (below).
            written = asyncio.ensure_future(self._write_children(messages, lines=not ending))
            touching = [m for m in messages if touches_job(m)]
            if not touching:  # pages or logs alone: nobody waits on those through notices
                written.add_done_callback(partial(_settle_batch, batch))
                children = [write for write in children if not write.done()]
                children.append(written)
                continue
            try:
                if ending:
                    # Written once every page and log that arrived before it (or with it) is
                    # stored: a terminal status is never visible before them.
                    await asyncio.wait([*children, written])
                    children = []
                    written.result()
                    lines = [line for m in messages if (line := lifecycle_log(m)) is not None]
                    change = await self._job_change_with(
                        touching, self._log_writes.write(lines) if lines else asyncio.sleep(0)
                    )
                else:  # a status or counters: at the same time as the batch's lines
                    change = await self._job_change_with(touching, written)
            except Exception as exc:  # each message's handler decides (nack, redelivery)
                _settle_batch(batch, exc)
            else:
                _settle_batch(batch)
                if change is not None and self._on_change is not None:
                    self._on_change(change)
        # No await between the empty check above and this: nothing can slip in unseen.
        self._waiting.pop(job_id, None)
        self._arrivals.pop(job_id, None)

    async def _write_children(self, messages: list[Message], *, lines: bool = True) -> None:
        """Store a batch's pages and logs (with the lines its lifecycle events stand for,
        unless ``lines`` is false)."""
        pages = [page_document(m) for m in messages if isinstance(m, PageRecorded)]
        logs = [log_document(m) for m in messages if isinstance(m, CrawlLogged)]
        if lines:
            logs += [line for m in messages if (line := lifecycle_log(m)) is not None]
        # Pages and logs are independent of each other: written at once, each together with
        # those of the other jobs' batches that are being stored at the same moment.
        writes = []
        if pages:
            writes.append(self._page_writes.write(pages))
        if logs:
            writes.append(self._log_writes.write(logs))
        for outcome in await asyncio.gather(*writes, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    async def _job_change_with(
        self, touching: list[Message], beside: Awaitable[None]
    ) -> JobChanged | None:
        """``_job_change`` at the same time as ``beside`` (a batch's lines). Readers hear
        of a job document written even when ``beside`` fails (the batch then fails, to be
        redelivered; writing it again changes nothing, so no second notice would come)."""
        writing = asyncio.ensure_future(beside)
        job = asyncio.ensure_future(self._job_change(touching))
        await asyncio.wait([writing, job])
        failed = writing.exception()
        change = job.result()
        if failed is not None:
            if change is not None and self._on_change is not None:
                self._on_change(change)
            raise failed
        return change

    async def _job_change(self, touching: list[Message]) -> JobChanged | None:
        """Fold messages into the job document; its change (for the change notice), or None."""
        written = await self._reduce_into_job(touching)
        if written is None:
            return None
        version, status, stored = written
        return JobChanged(
            job_id=touching[0].job_id,
            version=version,
            status=status,
            document=base64.b64encode(stored).decode(),
        )

    def _fold(self, document: JobDocument | None, messages: list[Message]) -> JobDocument:
        for message in messages:
            document = reduce_job(document, message, retention=self._retention)
        assert document is not None
        return document

    async def _reduce_into_job(self, messages: list[Message]) -> tuple[int, str, bytes] | None:
        """Fold ``messages`` into the job document; its new (version, status, BSON as
        written), or None when nothing was written (nothing changed)."""
        job_id = messages[0].job_id
        for attempt in range(_CAS_ATTEMPTS):
            current = self._known.pop(job_id, None) if attempt == 0 else None
            if current is None:
                current = await self.crawls.find_one({"_id": job_id})
            if current is None:
                created = self._fold(None, messages)
                try:
                    await self.crawls.insert_one({**created, "version": 1})
                except DuplicateKeyError:
                    continue  # created meanwhile (by the API or another replica): reduce again
                stored = self._remember({**created, "version": 1})
                await self._stamp_expiry(None, created)
                return 1, str(created["status"]), stored
            version = current.pop("version", 0)
            updated = self._fold(current, messages)
            # Compared as stored (millisecond times; absent fields are their defaults). The
            # API's record of a job is its command's projection already (it is written once
            # the broker confirmed the command): projecting the command there changes nothing.
            if _as_stored(updated) == normalized(current):
                self._remember({**current, "version": version})
                return None  # duplicates or events that change nothing
            result = await self.crawls.replace_one(
                {"_id": job_id, "version": version}, {**updated, "version": version + 1}
            )
            if result.matched_count == 1:
                stored = self._remember({**updated, "version": version + 1})
                await self._stamp_expiry(current, updated)
                return version + 1, str(updated["status"]), stored
        raise ConcurrentUpdateError(f"job {job_id} kept changing")

    def _remember(self, document: JobDocument) -> bytes:
        """Keep ``document`` exactly as a read would return it (the BSON round trip gives
        millisecond datetimes, as stored), so starting from it equals starting from a read;
        returns its BSON."""
        stored = encode(document)
        self._known[document["_id"]] = decode(stored, codec_options=_AS_STORED)
        if len(self._known) > _KNOWN_JOBS:
            self._known.popitem(last=False)
        return stored

    async def _stamp_expiry(self, before: JobDocument | None, after: JobDocument) -> None:
        """When a job's ``expires_at`` is set or moves, its pages and logs follow (so TTL
        indexes, where the server has them, remove them with the job)."""
        expires_at = after.get("expires_at")
        if (
            not self.stamp_children
            or expires_at is None
            or (before is not None and before.get("expires_at") == expires_at)
        ):
            return
        stamp = {"$set": {"expires_at": expires_at}}
        await self.pages.update_many({"job_id": after["_id"]}, stamp)
        await self.logs.update_many({"_id": job_range(after["_id"])}, stamp)

    @staticmethod
    async def _upsert_newer(collection: Any, document: dict[str, Any]) -> None:
        """Write ``document`` unless a version with a higher ``order`` is already stored.

        Insert first: a URL is nearly always recorded once, so one write is the common
        case; only a duplicate (redelivery, resumed attempt) pays for the read and the
        replace.
        """
        try:
            await collection.insert_one(document)
        except DuplicateKeyError:
            stored = await collection.find_one({"_id": document["_id"]}, {"order": 1})
            if stored is None or stored.get("order", -1) < document["order"]:
                await collection.replace_one({"_id": document["_id"]}, document, upsert=True)

    @classmethod
    async def _insert_many_newer(cls, collection: Any, documents: list[dict[str, Any]]) -> None:
        """``_upsert_newer`` for many documents: one unordered insert, then the duplicates
        (if any) one by one."""
        try:
            await collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            for index in _duplicates(exc):
                await cls._upsert_newer(collection, documents[index])

    @staticmethod
    async def _insert_many_once(collection: Any, documents: list[dict[str, Any]]) -> None:
        try:
            await collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            _duplicates(exc)  # redelivered ones are fine; anything else raises


def _settle_batch(
    batch: list[tuple[Message, asyncio.Future[None]]],
    outcome: asyncio.Future[None] | BaseException | None = None,
) -> None:
    """Resolve each message's future: with ``outcome``'s error, if it has one."""
    if isinstance(outcome, asyncio.Future):
        outcome = asyncio.CancelledError() if outcome.cancelled() else outcome.exception()
    settle(batch, outcome)


def _as_stored(document: JobDocument) -> JobDocument:
    """``document`` as a read would return it after writing it (the BSON round trip)."""
    return decode(encode(document), codec_options=_AS_STORED)


def _duplicates(exc: BulkWriteError) -> list[int]:
    """Indexes of the documents refused as duplicates; re-raises any other write error."""
    errors = exc.details.get("writeErrors", [])
    if any(e.get("code") != _DUPLICATE_KEY for e in errors) or exc.details.get(
        "writeConcernErrors"
    ):
        raise exc
    return [int(e["index"]) for e in errors]
