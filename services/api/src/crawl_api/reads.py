"""Read-side queries of the API: job history, pages, logs, webhook deliveries.

Every query is scoped to one tenant (a job of another tenant does not exist for the caller)
and scans an index: the ``_id`` index for one job's pages and logs (composite ``<job>:<key>``
ids), ``(tenant, created_at)`` for the history. Both MongoDB 7 and FerretDB v1 serve them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from crawl_mongo import create_query_index, server_traits

__all__ = [
    "PAGE_FIELDS",
    "BadCursorError",
    "HistoryFilter",
    "ReadStore",
    "decode_cursor",
    "encode_cursor",
    "log_id_after",
]

# Fields a page listing may choose from (``fields=``); ``markdown`` is the large one.
PAGE_FIELDS = (
    "url",
    "outcome",
    "reason",
    "http_status",
    "depth",
    "attempts",
    "title",
    "language",
    "description",
    "content_hash",
    "final_url",
    "content_type",
    "markdown",
    "order",
    "recorded_at",
)
_ORDER_BASE = 10**12  # ordering number = attempt * 10**12 + seq (as the projection writes it)


class BadCursorError(ValueError):
    """A cursor that this API did not hand out."""


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


def log_id_after(job_id: str, order: int) -> str:
    """The ``crawl_logs`` ``_id`` of ordering number ``order`` (exclusive lower bound)."""
    attempt, seq = divmod(order, _ORDER_BASE)
    return f"{job_id}:{attempt:06d}:{seq:012d}"


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    statuses: tuple[str, ...] = ()
    host: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def _job_range(job_id: str) -> dict[str, str]:
    return {"$gte": f"{job_id}:", "$lt": f"{job_id};"}  # ';' sorts right after ':'


class ReadStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.crawls = database["crawls"]
        self.pages = database["crawl_pages"]
        self.logs = database["crawl_logs"]
        self.deliveries = database["webhook_deliveries"]

    async def ensure_indexes(self) -> None:
        """The query indexes, where the server uses them (``crawl_mongo``)."""
        traits = await server_traits(self.crawls.database)
        await create_query_index(
            self.crawls, [("tenant", ASCENDING), ("created_at", DESCENDING)], traits
        )
        await create_query_index(
            self.deliveries, [("job_id", ASCENDING), ("created_at", ASCENDING)], traits
        )

    async def history(
        self, tenant: str, where: HistoryFilter, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """The tenant's jobs, newest first; ``after`` is the (created_at, id) of the last one
        of the previous page."""
        query: dict[str, Any] = {"tenant": tenant}
        if where.statuses:
            query["status"] = {"$in": list(where.statuses)}
        created: dict[str, datetime] = {}
        if where.created_after:
            created["$gte"] = where.created_after
        if where.created_before:
            created["$lt"] = where.created_before
        if created:
            query["created_at"] = created
        if where.host:
            host = re.escape(where.host.lower())
            query["request.url"] = {
                "$regex": f"^https?://{host}(:[0-9]+)?([/?#]|$)",
                "$options": "i",
            }
        if after is not None:
            at, job_id = after
            query["$or"] = [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": job_id}}]
        cursor = (
            self.crawls.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def count_unfinished(self, tenant: str, unfinished: list[str]) -> int:
        return await self.crawls.count_documents({"tenant": tenant, "status": {"$in": unfinished}})

    async def page_list(
        self,
        job_id: str,
        *,
        after: str | None,
        limit: int,
        outcome: str | None = None,
        fields: tuple[str, ...] = PAGE_FIELDS,
        min_order: int | None = None,
    ) -> list[dict[str, Any]]:
        """Pages of one job in ``_id`` order (or in ``order`` when ``min_order`` is given)."""
        query: dict[str, Any] = {"_id": _job_range(job_id)}
        if after:
            query["_id"] = {**query["_id"], "$gt": after}
        if outcome:
            query["outcome"] = outcome
        projection = {"_id": 1, **dict.fromkeys(fields, 1)}
        if min_order is not None:
            query = {"job_id": job_id, "order": {"$gt": min_order}}
            found = self.pages.find(query, projection).sort("order", ASCENDING)
        else:
            found = self.pages.find(query, projection).sort("_id", ASCENDING)
        return [doc async for doc in found.limit(limit)]

    async def all_pages(self, job_id: str, batch: int = 200) -> AsyncIterator[dict[str, Any]]:
        """Every page of a job, read in batches so memory stays flat however large it is."""
        after: str | None = None
        while True:
            docs = await self.page_list(job_id, after=after, limit=batch)
            for doc in docs:
                yield doc
            if len(docs) < batch:
                return
            after = docs[-1]["_id"]

    async def log_list(self, job_id: str, *, after: int | None, limit: int) -> list[dict[str, Any]]:
        """Log lines of one job in producer order, after ordering number ``after``."""
        bounds = _job_range(job_id)
        if after is not None:
            bounds = {"$gt": log_id_after(job_id, after), "$lt": bounds["$lt"]}
        found = self.logs.find({"_id": bounds}).sort("_id", ASCENDING).limit(limit)
        return [doc async for doc in found]

    async def webhook_deliveries(self, job_id: str) -> list[dict[str, Any]]:
        found = self.deliveries.find({"job_id": job_id}).sort("created_at", ASCENDING)
        return [doc async for doc in found.limit(10_000)]
