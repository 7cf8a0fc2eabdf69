"""Schedules fire each tick exactly once, however many status replicas look at the timers.

Two :class:`Scheduler` instances (two replicas) share the real database; "now" is passed in,
so ticks are simulated rather than waited for. What they publish is collected: the broker's
side is the e2e test's (tests/e2e/test_schedules.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from crawl_contracts import CrawlRequested, Envelope
from crawl_schema import ensure_indexes, names
from crawl_schema.schedules import Timing, fire_id, schedule_document, timer_document
from crawl_status.scheduler import PREVIOUS_UNFINISHED, Scheduler

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
async def database(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    db = mongo[f"sched_{uuid.uuid4().hex[:10]}"]
    await ensure_indexes(db, names.SCHEDULE_FIRES, names.CRAWLS)
    yield db
    await mongo.drop_database(db.name)


class Published:
    def __init__(self) -> None:
        self.commands: list[CrawlRequested] = []

    async def __call__(self, message: Envelope) -> None:
        assert isinstance(message, CrawlRequested)
        self.commands.append(message)


async def add_schedule(
    db: AsyncDatabase[dict[str, Any]],
    *,
    every: int = 5,
    first_tick: datetime = T0,
    since_previous: bool = False,
    overlap: str = "allow",
    urls: tuple[str, ...] = ("http://127.0.0.1:9/",),
    assistant_id: str | None = None,
) -> str:
    schedule_id = str(uuid.uuid4())
    await db[names.SCHEDULES].insert_one(
        schedule_document(
            schedule_id=schedule_id,
            tenant="t1",
            created_by="u1",
            name=None,
            timing=Timing(every=every),
            requests=[{"url": url, "max_pages": 3} for url in urls],
            since_previous=since_previous,
            overlap=overlap,
            paused=False,
            assistant_id=assistant_id,
            now=first_tick - 10 * SECOND,
        )
    )
    await db[names.SCHEDULE_TIMERS].insert_one(timer_document(schedule_id, 1, first_tick))
    return schedule_id


def replicas(db: AsyncDatabase[dict[str, Any]], sink: Published, n: int = 2) -> list[Scheduler]:
    return [
        Scheduler(db, sink, instance=f"r{i}", retention=timedelta(days=7), claim_grace=30)
        for i in range(n)
    ]


async def fires_of(db: AsyncDatabase[dict[str, Any]], schedule_id: str) -> list[dict[str, Any]]:
    query = {"schedule_id": schedule_id}
    return await db[names.SCHEDULE_FIRES].find(query).sort("_id", 1).to_list()


async def test_two_replicas_fire_each_tick_once(database: AsyncDatabase[dict[str, Any]]) -> None:
    sink = Published()
    schedule_id = await add_schedule(database)
    schedulers = replicas(database, sink, 3)
    for step in range(24):  # 12 ticks, looked at twice each (as replicas do every second)
        now = T0 + step * 2.5 * SECOND + 0.2 * SECOND
        await asyncio.gather(*(s.run_due(now) for s in schedulers))
    fires = await fires_of(database, schedule_id)
    ticks = [f["tick"] for f in fires]
    assert ticks == [T0 + i * 5 * SECOND for i in range(12)]
    assert [c.job_id for c in sink.commands] == [f["jobs"][0]["job_id"] for f in fires]
    assert len({c.job_id for c in sink.commands}) == 12
    assert all(f["published"] and f["missed"] == 0 for f in fires)
    timers = await database[names.SCHEDULE_TIMERS].find({"schedule_id": schedule_id}).to_list()
    assert [t["tick"] for t in timers] == [T0 + 12 * 5 * SECOND]


async def test_ticks_missed_while_down_fire_once_on_return(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    sink = Published()
    schedule_id = await add_schedule(database)
    back = T0 + 17 * SECOND  # ticks T0, +5, +10, +15 passed with no replica running
    await asyncio.gather(*(s.run_due(back) for s in replicas(database, sink)))
    await asyncio.gather(*(s.run_due(back + SECOND) for s in replicas(database, sink)))
    (fire,) = await fires_of(database, schedule_id)
    assert fire["tick"] == T0
    assert fire["missed"] == 3
    assert len(sink.commands) == 1
    timers = await database[names.SCHEDULE_TIMERS].find({"schedule_id": schedule_id}).to_list()
    assert [t["tick"] for t in timers] == [T0 + 20 * SECOND]


async def test_a_replica_stopped_before_its_next_timer_leaves_nothing_unfired(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    """Stopped after publishing tick T but before inserting the next timer: the ticks that
    passed since fire once, as one late run, when a replica looks again."""
    sink = Published()
    schedule_id = await add_schedule(database)
    (dying,) = replicas(database, sink, 1)
    timers = dying._timers

    class StoppedBeforeInsert:
        def __getattr__(self, name: str) -> Any:
            return getattr(timers, name)

        async def insert_one(self, document: Any) -> None:
            raise RuntimeError("process stopped")

    dying._timers = StoppedBeforeInsert()  # type: ignore[assignment]
    await dying.run_due(T0)  # fired and published T0; its timer stays
    back = T0 + 17 * SECOND
    (other,) = replicas(database, sink, 1)
    for look in range(3):
        await other.run_due(back + look * 0.5 * SECOND)
    fires = await fires_of(database, schedule_id)
    assert [(f["tick"], f["missed"]) for f in fires] == [(T0, 0), (T0 + 5 * SECOND, 2)]
    assert len(sink.commands) == 2
    left = await database[names.SCHEDULE_TIMERS].find({"schedule_id": schedule_id}).to_list()
    assert [t["tick"] for t in left] == [T0 + 20 * SECOND]


async def test_paused_deleted_and_outdated_timers_are_dropped_unfired(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    sink = Published()
    paused = await add_schedule(database)
    await database[names.SCHEDULES].update_one({"_id": paused}, {"$set": {"paused": True}})
    resumed = await add_schedule(database)
    await database[names.SCHEDULES].update_one({"_id": resumed}, {"$inc": {"generation": 1}})
    deleted = await add_schedule(database)
    await database[names.SCHEDULES].delete_one({"_id": deleted})
    (scheduler,) = replicas(database, sink, 1)
    assert await scheduler.run_due(T0 + SECOND) == 0
    assert sink.commands == []
    assert await database[names.SCHEDULE_FIRES].count_documents({}) == 0
    assert await database[names.SCHEDULE_TIMERS].count_documents({}) == 0


async def test_a_claim_left_unpublished_is_published_after_the_grace(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    """A replica that died between claiming a tick and publishing it: another one publishes
    the same job ids once the claim is older than ``claim_grace``."""
    sink = Published()
    schedule_id = await add_schedule(database)
    (dying,) = replicas(database, Published(), 1)

    async def crash(schedule: dict[str, Any], fire: dict[str, Any]) -> None:
        raise RuntimeError("process died")

    dying._send = crash  # type: ignore[method-assign]
    await dying.run_due(T0)  # the failure is logged, the claim stays
    (claimed,) = await fires_of(database, schedule_id)
    assert not claimed["published"]
    (other,) = replicas(database, sink, 1)
    await other.run_due(T0 + 10 * SECOND)  # within the grace: the claimer may be publishing
    assert sink.commands == []
    await other.run_due(T0 + 31 * SECOND)
    assert [c.job_id for c in sink.commands] == [claimed["jobs"][0]["job_id"]]
    (fire,) = await fires_of(database, schedule_id)
    assert fire["published"]


async def test_since_previous_chains_to_the_last_completed_run_and_overlap_skips(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    sink = Published()
    schedule_id = await add_schedule(database, since_previous=True, overlap="skip")
    (scheduler,) = replicas(database, sink, 1)
    crawls = database[names.CRAWLS]

    async def tick(i: int, status: str | None) -> dict[str, Any]:
        await scheduler.run_due(T0 + i * 5 * SECOND)
        fire = await database[names.SCHEDULE_FIRES].find_one(
            {"_id": fire_id(schedule_id, T0 + i * 5 * SECOND)}
        )
        assert fire is not None
        for job in fire["jobs"]:
            if status is not None:
                await crawls.insert_one({"_id": job["job_id"], "status": status, "tenant": "t1"})
        return fire

    first = await tick(0, "completed")
    assert first["jobs"][0]["since"] is None
    second = await tick(1, "failed")
    assert second["jobs"][0]["since"] == first["jobs"][0]["job_id"]
    third = await tick(2, "running")
    assert third["jobs"][0]["since"] == first["jobs"][0]["job_id"]  # the failed one is passed
    fourth = await tick(3, None)
    assert fourth["skipped"] == PREVIOUS_UNFINISHED
    assert fourth["jobs"] == []
    assert fourth["published"]
    assert [c.request.since for c in sink.commands] == [
        None,
        first["jobs"][0]["job_id"],
        first["jobs"][0]["job_id"],
    ]


async def test_an_assistant_schedule_records_one_run_of_all_its_urls(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    sink = Published()
    urls = ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b")
    schedule_id = await add_schedule(database, urls=urls, assistant_id="asst-1")
    await asyncio.gather(*(s.run_due(T0) for s in replicas(database, sink)))
    (fire,) = await fires_of(database, schedule_id)
    run = await database[names.ASSISTANT_RUNS].find_one({"_id": fire["run_id"]})
    assert run is not None
    assert run["assistant_id"] == "asst-1"
    assert run["schedule_id"] == schedule_id
    assert [(j["url"], j["job_id"]) for j in run["jobs"]] == [
        (c.request.url, c.job_id) for c in sink.commands
    ]
    assert [c.request.url for c in sink.commands] == list(urls)
