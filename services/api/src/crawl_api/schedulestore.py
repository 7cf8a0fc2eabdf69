"""The schedules' definitions (``crawl_schedules``): the API alone writes them.

Creating a schedule inserts its document, then the timer of its first tick; resuming one
raises its ``generation`` and inserts the timer of the new generation's first tick (a timer of
an older generation is deleted unfired by whichever status service meets it, as is one of a
paused or deleted schedule). A timer that cannot be inserted undoes the change and answers
503: a schedule is never left looking active with nothing to fire it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from crawl_api.auth import Principal
from crawl_api.errors import Conflict, NotFound, ServiceUnavailable
from crawl_contracts.envelope import utcnow
from crawl_schema import names
from crawl_schema.queries import schedule_fires, tenant_schedules
from crawl_schema.schedules import Timing, schedule_document, timer_document, timing_of

__all__ = ["ScheduleStore"]

log = structlog.get_logger("crawl_api")


class ScheduleStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]], *, max_per_tenant: int) -> None:
        self._schedules = database[names.SCHEDULES]
        self._timers = database[names.SCHEDULE_TIMERS]
        self._fires = database[names.SCHEDULE_FIRES]
        self._max = max_per_tenant

    async def create(
        self,
        principal: Principal,
        schedule_id: str,
        *,
        timing: Timing,
        requests: Sequence[Mapping[str, Any]],
        name: str | None = None,
        since_previous: bool = False,
        overlap: str = "skip",
        paused: bool = False,
        assistant_id: str | None = None,
    ) -> dict[str, Any]:
        if self._max:
            count = await self._schedules.count_documents({"tenant": principal.tenant})
            if count >= self._max:
                raise Conflict(
                    f"the tenant has {count} schedules, the most it may have; delete one first"
                )
        now = utcnow()
        doc = schedule_document(
            schedule_id=schedule_id,
            tenant=principal.tenant,
            created_by=principal.user,
            name=name,
            timing=timing,
            requests=requests,
            since_previous=since_previous,
            overlap=overlap,
            paused=paused,
            assistant_id=assistant_id,
            now=now,
        )
        await self._schedules.insert_one(doc)
        if not paused:
            try:
                await self._arm(doc, now)
            except Exception:
                await self._schedules.delete_one({"_id": schedule_id})
                raise
        return doc

    async def get(self, schedule_id: str, tenant: str) -> dict[str, Any]:
        doc = await self._schedules.find_one({"_id": schedule_id})
        if doc is None or doc.get("tenant") != tenant:
            raise NotFound(f"no schedule {schedule_id}")
        return doc

    async def page(self, tenant: str, *, before: str | None, limit: int) -> list[dict[str, Any]]:
        query = tenant_schedules(tenant, before=before)
        return await self._schedules.find(query.filter).sort(query.sort).limit(limit).to_list()

    async def pause(self, schedule_id: str, tenant: str) -> dict[str, Any]:
        doc = await self._schedules.find_one_and_update(
            {"_id": schedule_id, "tenant": tenant},
            {"$set": {"paused": True, "updated_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            raise NotFound(f"no schedule {schedule_id}")
        return doc

    async def resume(self, schedule_id: str, tenant: str) -> dict[str, Any]:
        """Resume a paused schedule from its next tick (ticks passed while it was paused do
        not fire); resuming an active one changes nothing."""
        now = utcnow()
        doc = await self._schedules.find_one_and_update(
            {"_id": schedule_id, "tenant": tenant, "paused": True},
            {"$set": {"paused": False, "updated_at": now}, "$inc": {"generation": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return await self.get(schedule_id, tenant)  # active already, or a 404
        try:
            await self._arm(doc, now)
        except Exception:
            await self._schedules.update_one({"_id": schedule_id}, {"$set": {"paused": True}})
            raise
        return doc

    async def delete(self, schedule_id: str, tenant: str) -> None:
        """Delete the schedule (its pending timer is dropped when due; its fires and the jobs
        they made stay until they expire)."""
        result = await self._schedules.delete_one({"_id": schedule_id, "tenant": tenant})
        if result.deleted_count == 0:
            raise NotFound(f"no schedule {schedule_id}")

    async def fires(
        self, schedule: Mapping[str, Any], *, before: datetime | None, limit: int
    ) -> list[dict[str, Any]]:
        """The schedule's fires, newest first (ticks before ``before``)."""
        query = schedule_fires(str(schedule["_id"]), before=before)
        return await self._fires.find(query.filter).sort(query.sort).limit(limit).to_list()

    async def _arm(self, doc: Mapping[str, Any], now: datetime) -> None:
        timer = timer_document(str(doc["_id"]), int(doc["generation"]), next_run(doc, now))
        try:
            await self._timers.insert_one(timer)
        except Exception as exc:
            log.warning("schedule.arm_failed", schedule_id=doc["_id"], error=str(exc))
            raise ServiceUnavailable(
                "the schedule's first tick could not be recorded; nothing was changed, retry",
                headers={"Retry-After": "5"},
            ) from exc


def next_run(doc: Mapping[str, Any], now: datetime | None = None) -> datetime:
    """The schedule's next tick after ``now``."""
    return timing_of(doc).next_after(now or utcnow())
