"""Firing schedules: every replica of the status service looks at the due timers about once a
second, and each tick fires exactly once however many look (``crawl_schema.schedules``).

For a due timer: its schedule is read; a timer whose schedule is gone, paused or of a later
generation is deleted unfired. Otherwise the replica claims the tick by inserting its fire
document (a duplicate key: another replica claimed it), publishes the fire's commands
(``CrawlRequested``, job ids derived from the tick, so a second publication is the same job),
records the assistant run where the schedule is an assistant's, marks the fire published,
inserts the next timer and deletes this one. Each step is idempotent, so a replica that meets
a claimed tick finishes what is left of it: a fire still unpublished ``claim_grace`` seconds
after its claim (its claimer died between the two) is published by whoever looks next.

``since_previous``: each job of a fire names, as ``since``, the same start URL's job of the
previous fire if that one completed, else the one that previous job itself named, so a chain
of re-crawls always compares with the last complete crawl. ``overlap: "skip"``: a tick whose
previous fire still has unfinished jobs fires nothing and says so (``skipped``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crawl_contracts import TERMINAL_STATUSES, CrawlRequest, CrawlRequested, Envelope, JobStatus
from crawl_schema import names
from crawl_schema.documents import assistant_run
from crawl_schema.queries import due_timers, schedule_fires
from crawl_schema.schedules import (
    fire_document,
    fire_id,
    fire_job_id,
    timer_document,
    timing_of,
)

__all__ = ["Scheduler"]

log = structlog.get_logger("crawl_status.scheduler")

Publish = Callable[[Envelope], Awaitable[None]]

PREVIOUS_UNFINISHED = "previous_run_unfinished"


class Scheduler:
    """Fires the due ticks of every schedule (one replica per tick)."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        publish: Publish,
        *,
        instance: str,
        retention: timedelta,
        claim_grace: float = 30.0,
        batch: int = 100,
    ) -> None:
        self._schedules = database[names.SCHEDULES]
        self._timers = database[names.SCHEDULE_TIMERS]
        self._fires = database[names.SCHEDULE_FIRES]
        self._crawls = database[names.CRAWLS]
        self._runs = database[names.ASSISTANT_RUNS]
        self._publish = publish
        self._instance = instance
        self._retention = retention
        self._claim_grace = timedelta(seconds=claim_grace)
        self._batch = batch

    async def run_due(self, now: datetime) -> int:
        """Handle the timers due at ``now``; returns how many ticks this replica fired."""
        query = due_timers(now)
        timers = await self._timers.find(query.filter).sort(query.sort).limit(self._batch).to_list()
        fired = 0
        for timer in timers:
            try:
                fired += await self._handle(timer, now)
            except Exception:  # one schedule's trouble must not hold the others back
                log.exception("schedule.fire_failed", schedule_id=timer.get("schedule_id"))
        return fired

    async def _handle(self, timer: dict[str, Any], now: datetime) -> int:
        schedule_id = str(timer["schedule_id"])
        schedule = await self._schedules.find_one({"_id": schedule_id})
        if (
            schedule is None
            or schedule.get("paused")
            or int(schedule.get("generation", 0)) != int(timer["generation"])
        ):
            await self._timers.delete_one({"_id": timer["_id"]})
            return 0
        tick: datetime = timer["tick"]
        fired, fire = await self._claim(schedule, tick, now)
        if not fire["published"]:
            if not fired and now - fire["fired_at"] < self._claim_grace:
                return 0  # its claimer is publishing it: look again later
            if not fired:
                log.warning("schedule.fire_resumed", schedule_id=schedule_id, tick=tick.isoformat())
            await self._send(schedule, fire)
        last = fire.get("last_tick") or tick
        following = timer_document(
            schedule_id, int(timer["generation"]), timing_of(schedule).next_after(last)
        )
        with contextlib.suppress(DuplicateKeyError):  # another replica handled this tick too
            await self._timers.insert_one(following)
        await self._timers.delete_one({"_id": timer["_id"]})
        return int(fired)

    async def _claim(
        self, schedule: dict[str, Any], tick: datetime, now: datetime
    ) -> tuple[bool, dict[str, Any]]:
        """Insert the tick's fire; ``(True, fire)`` if this replica claimed it, else
        ``(False, the fire another one claimed)``."""
        claimed = await self._fires.find_one({"_id": fire_id(str(schedule["_id"]), tick)})
        if claimed is not None:
            return False, claimed
        previous = await self._previous(schedule, tick)
        statuses = await self._statuses(previous)
        skipped = None
        if (
            schedule.get("overlap", "skip") == "skip"
            and previous is not None
            and any(statuses.get(j["job_id"]) not in _FINISHED for j in previous["jobs"])
        ):
            skipped = PREVIOUS_UNFINISHED
        jobs = [] if skipped else self._jobs(schedule, tick, previous, statuses)
        missed, last = timing_of(schedule).coalesce(tick, now)
        fire = fire_document(
            schedule,
            tick,
            now=now,
            jobs=jobs,
            skipped=skipped,
            missed=missed,
            last_tick=last,
            fired_by=self._instance,
            expires_at=now + self._retention,
        )
        try:
            await self._fires.insert_one(fire)
        except DuplicateKeyError:
            other = await self._fires.find_one({"_id": fire["_id"]})
            if other is None:  # claimed and gone already (retention): nothing left to do
                return False, {**fire, "published": True}
            return False, other
        log.info(
            "schedule.fired",
            schedule_id=schedule["_id"],
            tenant=schedule["tenant"],
            tick=tick.isoformat(),
            jobs=[j["job_id"] for j in jobs],
            skipped=skipped,
            missed=fire["missed"],
        )
        return True, fire

    def _jobs(
        self,
        schedule: dict[str, Any],
        tick: datetime,
        previous: dict[str, Any] | None,
        statuses: dict[str, str],
    ) -> list[dict[str, Any]]:
        """What a fire of ``tick`` submits: a job per crawl request of the schedule, each
        with the earlier job it is a re-crawl of (``since_previous``)."""
        earlier: dict[str, str | None] = {}
        if schedule.get("since_previous") and previous is not None:
            for job in previous["jobs"]:
                done = statuses.get(job["job_id"]) == JobStatus.COMPLETED.value
                earlier[job["url"]] = job["job_id"] if done else job.get("since")
        return [
            {
                "url": request["url"],
                "job_id": fire_job_id(str(schedule["_id"]), tick, index),
                "since": earlier.get(request["url"]),
            }
            for index, request in enumerate(schedule["requests"])
        ]

    async def _previous(self, schedule: dict[str, Any], tick: datetime) -> dict[str, Any] | None:
        """The schedule's last fire before ``tick`` that submitted jobs."""
        query = schedule_fires(str(schedule["_id"]), before=tick)
        async for fire in self._fires.find(query.filter).sort(query.sort).limit(20):
            if fire.get("jobs"):
                return fire
        return None

    async def _statuses(self, fire: dict[str, Any] | None) -> dict[str, str]:
        if fire is None or not fire["jobs"]:
            return {}
        ids = [j["job_id"] for j in fire["jobs"]]
        found = self._crawls.find({"_id": {"$in": ids}}, {"status": 1})
        return {str(doc["_id"]): str(doc["status"]) async for doc in found}

    async def _send(self, schedule: dict[str, Any], fire: dict[str, Any]) -> None:
        """Publish the fire's commands, record its assistant run, mark it published."""
        # A schedule's crawl requests never change, and its fires list a job for each, in order.
        for job, template in zip(fire["jobs"], schedule["requests"], strict=True):
            request = CrawlRequest.model_validate({**template, "since": job["since"]})
            await self._publish(
                CrawlRequested(
                    job_id=job["job_id"],
                    tenant=schedule["tenant"],
                    request=request,
                    submitted_by=schedule.get("created_by"),
                    correlation_id=str(schedule["_id"]),
                )
            )
        if fire.get("run_id"):
            with contextlib.suppress(DuplicateKeyError):
                await self._runs.insert_one(
                    assistant_run(
                        fire["run_id"],
                        assistant_id=schedule["assistant_id"],
                        tenant=schedule["tenant"],
                        created_by=schedule.get("created_by") or "",
                        created_at=fire["fired_at"],
                        jobs=[(j["url"], j["job_id"]) for j in fire["jobs"]],
                        schedule_id=str(schedule["_id"]),
                    )
                )
        await self._fires.update_one({"_id": fire["_id"]}, {"$set": {"published": True}})


_FINISHED = {s.value for s in TERMINAL_STATUSES}
