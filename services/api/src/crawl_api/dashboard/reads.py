"""Read-only queries of the dashboard over the status projection (MongoDB).

Every query is scoped to one tenant (a job of another tenant is simply not found) and is
answered from an index (``crawl_schema.queries``), so a view costs what it shows, not what is
stored: the runs list is the job list, a run's pages are read by their ordering number, the
pages/s chart and the fleet rate read at most a bounded number of the newest pages, and the
overview counts finished jobs of the last day only. Nothing here writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from crawl_contracts import TERMINAL_STATUSES, JobStatus
from crawl_schema import JOB_SUMMARY_FIELDS, names
from crawl_schema import queries as q
from crawl_schema.keys import list_key_bound

__all__ = ["DashboardReads", "Overview", "RateSeries", "bucket_rates"]

_RATE_SAMPLE_LIMIT = 500  # newest fetched pages read to draw a run's pages/s chart
_FLEET_SAMPLE_LIMIT = 2_000  # newest fetched pages read per running job for the fleet rate
_FLEET_WINDOW = timedelta(seconds=60)
_FINISHED_WINDOW = timedelta(days=1)  # finished jobs the overview counts
_REASON_SAMPLE = 1_000  # failed and skipped pages read (each) to offer their reasons


@dataclass(frozen=True, slots=True)
class RateSeries:
    """Pages per second over a run, in equal buckets from its start to its end (or now)."""

    bucket_seconds: float
    rates: list[float]


@dataclass(frozen=True, slots=True)
class Overview:
    """Unfinished jobs by status, finished ones of the last day by status, and the pages/s
    of the running ones over the last minute."""

    jobs_by_status: dict[str, int]
    fleet_pages_per_second: float
    running_jobs: int


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
        self.crawls = database[names.CRAWLS]
        self.pages = database[names.PAGES]
        self.logs = database[names.LOGS]

    async def runs(
        self, tenant: str, *, status: str | None = None, host: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The tenant's newest runs, optionally of one status and one host."""
        query = q.job_list(tenant, statuses=(status,) if status else (), host=host)
        found = self.crawls.find(query.filter, dict.fromkeys(JOB_SUMMARY_FIELDS, 1))
        return await found.sort(query.sort).limit(limit).to_list()

    async def run(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        return await self.crawls.find_one({"_id": job_id, "tenant": tenant})

    async def page_list(
        self,
        job_id: str,
        *,
        outcome: str | None = None,
        reason: str | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """One job's pages in the order they were recorded, after ordering number ``after``,
        without their text; optionally of one outcome (on its index) and one reason (read
        through the job's pages of that outcome)."""
        query = q.job_pages(job_id, after=after, outcome=outcome)
        if reason:
            query.filter["reason"] = reason
        cursor = self.pages.find(query.filter, {"markdown": 0}).sort(query.sort).limit(limit)
        return await cursor.to_list()

    async def page(self, job_id: str, key: str) -> dict[str, Any] | None:
        return await self.pages.find_one({"_id": f"{job_id}:{key}", "job_id": job_id})

    async def reasons(self, job_id: str) -> list[str]:
        """Reasons recorded for the job's failed and skipped pages (for the filter), from
        at most ``_REASON_SAMPLE`` of each."""
        found: set[str] = set()
        for outcome in ("failed", "skipped"):
            query = q.job_pages(job_id, outcome=outcome)
            cursor = self.pages.find(query.filter, {"reason": 1}).sort(query.sort)
            async for doc in cursor.limit(_REASON_SAMPLE):
                if doc.get("reason"):
                    found.add(str(doc["reason"]))
        return sorted(found)

    async def log_tail(self, job_id: str, lines: int = 15) -> list[dict[str, Any]]:
        query = q.job_logs(job_id, newest_first=True)
        cursor = self.logs.find(query.filter).sort(query.sort).limit(lines)
        return list(reversed(await cursor.to_list()))

    async def _newest_fetched(self, job_id: str, limit: int) -> list[datetime]:
        """When the job's newest fetched pages (at most ``limit``) were recorded, newest
        first."""
        query = q.job_pages(job_id, outcome="fetched")
        cursor = self.pages.find(query.filter, {"recorded_at": 1, "_id": 0})
        cursor = cursor.sort([("order", -1)]).limit(limit)
        return [doc["recorded_at"] async for doc in cursor if doc.get("recorded_at")]

    async def rates(self, run: dict[str, Any], buckets: int = 30) -> RateSeries | None:
        """Fetched pages/s over the run, from each page's ``recorded_at``: over the whole
        run up to ``_RATE_SAMPLE_LIMIT`` pages, over its newest pages beyond."""
        start = run.get("started_at")
        if start is None:
            return None
        end = run.get("finished_at") or datetime.now(UTC)
        times = await self._newest_fetched(str(run["_id"]), _RATE_SAMPLE_LIMIT)
        if len(times) == _RATE_SAMPLE_LIMIT:
            start = max(start, times[-1])
        return bucket_rates(times, start, end, buckets)

    async def overview(self, tenant: str) -> Overview:
        now = datetime.now(UTC)
        since = list_key_bound(now - _FINISHED_WINDOW)
        by_status: dict[str, int] = {}
        for status in JobStatus:
            query: dict[str, Any] = {"tenant": tenant, "status": status.value}
            if status in TERMINAL_STATUSES:
                query["list_key"] = {"$gte": since}
            by_status[status.value] = await self.crawls.count_documents(query)
        running_statuses = (JobStatus.RUNNING.value, JobStatus.CANCELLING.value)
        running = q.job_list(tenant, statuses=running_statuses)
        recent = 0
        window_start = now - _FLEET_WINDOW
        async for doc in self.crawls.find(running.filter, {"_id": 1}):
            times = await self._newest_fetched(str(doc["_id"]), _FLEET_SAMPLE_LIMIT)
            recent += sum(1 for at in times if at >= window_start)
        rate = recent / _FLEET_WINDOW.total_seconds()
        return Overview(by_status, rate, sum(by_status[s] for s in running_statuses))
