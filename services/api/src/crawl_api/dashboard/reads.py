"""Read-only queries of the dashboard over the status projection (MongoDB).

Every query is scoped to one tenant: a job of another tenant is simply not found. Per-job
queries scan the composite ``_id`` range ``<job id>:`` .. ``<job id>;`` so they use the
``_id`` index on every backend. Nothing here writes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crawl_contracts import JobStatus

__all__ = ["DashboardReads", "Overview", "RateSeries", "bucket_rates"]

_RATE_SAMPLE_LIMIT = 50_000  # pages read to draw one job's pages/s chart
_FLEET_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class RateSeries:
    """Pages per second over a run, in equal buckets from its start to its end (or now)."""

    bucket_seconds: float
    rates: list[float]


@dataclass(frozen=True, slots=True)
class Overview:
    jobs_by_status: dict[str, int]
    fleet_pages_per_second: float
    running_jobs: int


def _job_range(job_id: str) -> dict[str, str]:
    return {"$gte": f"{job_id}:", "$lt": f"{job_id};"}  # ';' sorts right after ':'


def bucket_rates(
    times: list[datetime], start: datetime, end: datetime, buckets: int = 30
) -> RateSeries:
    """Pages/s in up to ``buckets`` equal slices of ``[start, end]``, none shorter than a
    second (shorter ones only show the fetchers' rhythm). Pure: unit-tested."""
    span = max((end - start).total_seconds(), 1.0)
    width = max(span / buckets, 1.0)
    buckets = max(1, math.ceil(span / width - 1e-9))
    counts = [0] * buckets
    for at in times:
        index = int((at - start).total_seconds() / width)
        counts[min(max(index, 0), buckets - 1)] += 1
    return RateSeries(width, [c / width for c in counts])


class DashboardReads:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.crawls = database["crawls"]
        self.pages = database["crawl_pages"]
        self.logs = database["crawl_logs"]

    async def runs(
        self, tenant: str, *, status: str | None = None, host: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The tenant's newest runs, optionally of one status and one host."""
        query: dict[str, Any] = {"tenant": tenant}
        if status:
            query["status"] = status
        if host:
            query["request.url"] = {
                "$regex": f"^https?://([^/@]*@)?{re.escape(host.lower())}(:[0-9]+)?(/|$)"
            }
        cursor = self.crawls.find(query).sort("created_at", -1).limit(limit)
        return [doc async for doc in cursor]

    async def run(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        return await self.crawls.find_one({"_id": job_id, "tenant": tenant})

    async def page_list(
        self,
        job_id: str,
        *,
        outcome: str | None = None,
        reason: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """One job's pages in ``_id`` order, without their text, optionally filtered."""
        id_range = _job_range(job_id)
        if after and after.startswith(f"{job_id}:"):
            id_range["$gt"] = after
            del id_range["$gte"]
        query: dict[str, Any] = {"_id": id_range}
        if outcome:
            query["outcome"] = outcome
        if reason:
            query["reason"] = reason
        fields = {"markdown": 0}
        cursor = self.pages.find(query, fields).sort("_id", 1).limit(limit)
        return [doc async for doc in cursor]

    async def page(self, job_id: str, key: str) -> dict[str, Any] | None:
        return await self.pages.find_one({"_id": f"{job_id}:{key}", "job_id": job_id})

    async def reasons(self, job_id: str) -> list[str]:
        """Reasons recorded for the job's failed and skipped pages (for the filter)."""
        values = await self.pages.distinct("reason", {"_id": _job_range(job_id)})
        return sorted(str(v) for v in values if v)

    async def log_tail(self, job_id: str, lines: int = 15) -> list[dict[str, Any]]:
        cursor = self.logs.find({"_id": _job_range(job_id)}).sort("_id", -1).limit(lines)
        return list(reversed([doc async for doc in cursor]))

    async def rates(self, run: dict[str, Any], buckets: int = 30) -> RateSeries | None:
        """Fetched pages/s over the run, from each page's ``recorded_at``."""
        start = run.get("started_at")
        if start is None:
            return None
        end = run.get("finished_at") or datetime.now(UTC)
        cursor = self.pages.find(
            {"_id": _job_range(run["_id"]), "outcome": "fetched"}, {"recorded_at": 1, "_id": 0}
        ).limit(_RATE_SAMPLE_LIMIT)
        times = [doc["recorded_at"] async for doc in cursor if doc.get("recorded_at")]
        return bucket_rates(times, start, end, buckets)

    async def overview(self, tenant: str) -> Overview:
        by_status = {s.value: 0 for s in JobStatus}
        since = datetime.now(UTC) - _FLEET_WINDOW
        running = 0
        recently_active: list[str] = []
        fields = {"status": 1, "last_activity_at": 1}
        async for doc in self.crawls.find({"tenant": tenant}, fields):
            status = str(doc.get("status"))
            by_status[status] = by_status.get(status, 0) + 1
            if status in (JobStatus.RUNNING.value, JobStatus.CANCELLING.value):
                running += 1
            last = doc.get("last_activity_at")
            if last is not None and last >= since:
                recently_active.append(doc["_id"])
        recent = 0
        for job_id in recently_active:
            recent += await self.pages.count_documents(
                {"_id": _job_range(job_id), "outcome": "fetched", "recorded_at": {"$gte": since}}
            )
        rate = recent / _FLEET_WINDOW.total_seconds()
        return Overview(by_status, rate, running)
