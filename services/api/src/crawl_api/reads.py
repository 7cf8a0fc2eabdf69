"""Read-side queries of the API: job history, pages, logs, webhook deliveries.

Every query is scoped to one tenant (a job of another tenant does not exist for the caller)
and is one of :mod:`crawl_schema.queries`, answered from an index on MongoDB and on the
embedded FerretDB build alike: its cost grows with what it returns, not with what is stored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crawl_schema import JOB_SUMMARY_FIELDS, names
from crawl_schema import queries as q

__all__ = [
    "ID_PREFIX_SCAN",
    "PAGE_FIELDS",
    "BadCursorError",
    "HistoryFilter",
    "PrefixTooShortError",
    "ReadStore",
    "decode_cursor",
    "encode_cursor",
]

# Fields a page listing may choose from (``fields=``); ``markdown`` is the large one.
PAGE_FIELDS = (
    "url",
    "outcome",
    "reason",
    "error",
    "http_status",
    "depth",
    "attempts",
    "title",
    "language",
    "description",
    "content_hash",
    "page_count",
    "change",
    "rendered",
    "etag",
    "last_modified",
    "final_url",
    "content_type",
    "markdown",
    "order",
    "recorded_at",
)


_SUMMARY = dict.fromkeys(JOB_SUMMARY_FIELDS, 1)


ID_PREFIX_SCAN = 1_000
"""The most jobs (of every tenant) an id prefix's range is read for; random UUIDs share a
4-character prefix that often only among about 65 million stored jobs."""


class BadCursorError(ValueError):
    """A cursor that this API did not hand out."""


class PrefixTooShortError(ValueError):
    """An id prefix too many stored jobs share to be resolved cheaply: give more of the id."""


def encode_cursor(*parts: Any) -> str:
    raw = json.dumps(list(parts), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise BadCursorError("the cursor is not one this API handed out") from exc
    if not isinstance(parts, list) or len(parts) != arity:
        raise BadCursorError("the cursor is not one this API handed out")
    return parts


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    statuses: tuple[str, ...] = ()
    host: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


class ReadStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.crawls = database[names.CRAWLS]
        self.pages = database[names.PAGES]
        self.logs = database[names.LOGS]
        self.deliveries = database[names.WEBHOOK_DELIVERIES]

    async def history(
        self, tenant: str, where: HistoryFilter, *, before: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """The tenant's jobs, newest first, listed after the list key ``before``."""
        query = q.job_list(
            tenant,
            statuses=where.statuses,
            host=where.host,
            created_after=where.created_after,
            created_before=where.created_before,
            before=before,
        )
        found = self.crawls.find(query.filter, _SUMMARY).sort(query.sort).limit(limit)
        return [doc async for doc in found]

    async def jobs_by_id_prefix(
        self, tenant: str, prefix: str, *, limit: int
    ) -> list[dict[str, Any]]:
        """The tenant's jobs whose id starts with ``prefix``, in id order, at most ``limit``:
        how a short id (``crawlctl``'s) is resolved. The ``_id`` range is read and the tenant
        checked here (see :func:`crawl_schema.queries.job_id_prefix`); a prefix that more than
        :data:`ID_PREFIX_SCAN` stored jobs of any tenant share raises
        :class:`PrefixTooShortError` rather than reading on."""
        query = q.job_id_prefix(prefix)
        found = self.crawls.find(query.filter, _SUMMARY).sort(query.sort).limit(ID_PREFIX_SCAN + 1)
        docs: list[dict[str, Any]] = []
        read = 0
        try:
            async for doc in found:
                read += 1
                if read > ID_PREFIX_SCAN:
                    raise PrefixTooShortError(f"more than {ID_PREFIX_SCAN} ids start with {prefix}")
                if doc.get("tenant") == tenant:
                    docs.append(doc)
                    if len(docs) >= limit:
                        break
        finally:
            await found.close()
        return docs

    async def count_unfinished(self, tenant: str) -> int:
        return await self.crawls.count_documents(q.tenant_unfinished(tenant))

    async def page_list(
        self,
        job_id: str,
        *,
        after: int | None,
        limit: int,
        outcome: str | None = None,
        fields: tuple[str, ...] = PAGE_FIELDS,
    ) -> list[dict[str, Any]]:
        """Pages of one job in the order they were recorded, after ordering number ``after``
        (each carries ``order``, the position to continue from)."""
        query = q.job_pages(job_id, after=after, outcome=outcome)
        projection = {"_id": 1, "order": 1, **dict.fromkeys(fields, 1)}
        found = self.pages.find(query.filter, projection).sort(query.sort).limit(limit)
        return [doc async for doc in found]

    async def all_pages(
        self, job_id: str, fields: tuple[str, ...] = PAGE_FIELDS, batch: int = 200
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a job, read in batches so memory stays flat however large it is."""
        after: int | None = None
        while True:
            docs = await self.page_list(job_id, after=after, limit=batch, fields=fields)
            for doc in docs:
                yield doc
            if len(docs) < batch:
                return
            after = int(docs[-1]["order"])

    async def log_list(self, job_id: str, *, after: int | None, limit: int) -> list[dict[str, Any]]:
        """Log lines of one job in producer order, after ordering number ``after``."""
        query = q.job_logs(job_id, after=after)
        found = self.logs.find(query.filter).sort(query.sort).limit(limit)
        return [doc async for doc in found]

    async def webhook_deliveries(self, job_id: str, limit: int = 10_000) -> list[dict[str, Any]]:
        query = q.job_deliveries(job_id)
        found = self.deliveries.find(query.filter).sort(query.sort).limit(limit)
        return [doc async for doc in found]
