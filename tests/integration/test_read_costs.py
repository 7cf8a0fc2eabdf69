"""Every read path costs what it returns, not what else is stored.

Two databases hold the same subject (a tenant's jobs, one job's pages, logs, webhook
deliveries and state pieces, an assistant's runs, a schedule's due timer and fires); the
large one also holds the data of many other jobs, tenants and schedules (well over a hundred
thousand documents, written through the schema lib). Each read the services make is timed on
both, alternately, and the medians compared: a read whose cost grew with the other jobs' data
(a scan of a collection) would be tens of times slower on the large database; one answered
from an index costs about the same.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from crawl_api.dashboard.reads import DashboardReads
from crawl_api.reads import HistoryFilter, ReadStore
from crawl_api.store import JobStore
from crawl_contracts import OrderingKey
from crawl_schema import ensure_indexes, log_line, names, new_job_document, page_record
from crawl_schema import queries as q
from crawl_schema.keys import delivery_id, state_chunk_id
from crawl_schema.schedules import fire_id, timer_document
from crawl_schema.state import StateDelta, state_pieces
from crawl_stack import Services
from crawl_status.retention import Retention
from crawl_status.stall import StallDetector
from crawl_worker.lease import LeaseStore

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
TENANT = "subject"
SUBJECT_JOBS = 60
SUBJECT_PAGES = 400
OTHER_JOBS = 12_000
PAGES_PER_OTHER_JOB = 12  # 144,000 page records of other jobs
SCHEDULE = "subject-schedule"
MAX_RATIO = 4.0  # large / small: a scan of the large collections is tens of times slower


@dataclass(frozen=True, slots=True)
class Subject:
    job_id: str  # the subject job: pages, logs, deliveries, state
    deep_cursor: str  # a list key deep in the tenant's history


def _job(job_id: str, tenant: str, created: datetime, status: str) -> dict[str, Any]:
    doc = new_job_document(
        job_id,
        tenant,
        request={"url": f"https://{tenant}.example/docs/", "max_pages": 100},
        created_at=created,
    )
    doc["status"] = status
    doc["last_activity_at"] = created + timedelta(minutes=5)
    if status in ("completed", "failed", "cancelled"):
        doc["finished_at"] = created + timedelta(minutes=5)
        doc["expires_at"] = created + timedelta(days=30)
    return {**doc, "version": 3}


def _pages(job_id: str, tenant: str, count: int) -> list[dict[str, Any]]:
    return [
        page_record(
            job_id,
            tenant,
            OrderingKey(1, i + 1),
            NOW,
            {
                "url": f"https://{tenant}.example/p/{job_id}/{i}",
                "outcome": ("fetched", "skipped", "failed")[i % 3],
                "reason": None if i % 3 == 0 else "out_of_scope",
                "title": f"Page {i}",
                "markdown": "text " * 60,
                "content_hash": f"{i:032x}",
            },
        )
        for i in range(count)
    ]


async def _fill_subject(db: AsyncDatabase[dict[str, Any]], subject: Subject) -> None:
    jobs = [
        _job(
            subject.job_id if i == 0 else f"{TENANT}-{i:04d}",
            TENANT,
            NOW - timedelta(hours=i),
            "completed" if i % 4 else "running",
        )
        for i in range(SUBJECT_JOBS)
    ]
    await db[names.CRAWLS].insert_many(jobs)
    await db[names.PAGES].insert_many(_pages(subject.job_id, TENANT, SUBJECT_PAGES))
    await db[names.LOGS].insert_many(
        [
            log_line(subject.job_id, TENANT, OrderingKey(1, i), level="info", message="x", at=NOW)
            for i in range(1, 101)
        ]
    )
    await db[names.WEBHOOK_DELIVERIES].insert_many(
        [
            {
                "_id": delivery_id(subject.job_id, f"m{i}"),
                "job_id": subject.job_id,
                "state": "delivered",
                "created_at": NOW + timedelta(seconds=i),
                "next_attempt_at": None,
            }
            for i in range(10)
        ]
    )
    delta = StateDelta(urls=[f"https://x/{i}" for i in range(500)], depths=[1] * 500)
    await db[names.CRAWLER_STATE].insert_many(state_pieces(subject.job_id, 1, 0, delta, NOW))
    # The subject's schedule: a timer due a minute ago and 30 earlier fires.
    await db[names.SCHEDULE_TIMERS].insert_one(
        timer_document(SCHEDULE, 1, NOW - timedelta(minutes=1))
    )
    await db[names.SCHEDULE_FIRES].insert_many(
        [_fire(SCHEDULE, NOW - timedelta(minutes=2 + i)) for i in range(30)]
    )
    await db[names.ASSISTANT_RUNS].insert_many(
        [
            {
                "_id": f"run-{i}",
                "assistant_id": "helper",
                "tenant": TENANT,
                "created_at": NOW - timedelta(hours=i),
                "jobs": [{"url": "https://subject.example/", "job_id": f"{TENANT}-{i + 1:04d}"}],
            }
            for i in range(20)
        ]
    )


def _fire(schedule_id: str, tick: datetime) -> dict[str, Any]:
    return {
        "_id": fire_id(schedule_id, tick),
        "schedule_id": schedule_id,
        "tick": tick,
        "jobs": [{"url": "https://x.example/", "job_id": f"{schedule_id}-{tick.timestamp()}"}],
        "published": True,
    }


def _history_status(i: int) -> str:
    """A history as a week of use leaves it: nearly every job finished, a few running."""
    if i % 600 == 0:
        return "running"
    return ("completed", "completed", "completed", "failed", "cancelled")[i % 5]


async def _fill_others(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Other tenants' jobs with their pages and logs, in concurrent batches."""
    semaphore = asyncio.Semaphore(4)

    async def batch(start: int, count: int) -> None:
        async with semaphore:
            ids = [f"other-{i:06d}" for i in range(start, start + count)]
            await db[names.CRAWLS].insert_many(
                [
                    _job(job, f"tenant-{i % 40}", NOW - timedelta(minutes=i), _history_status(i))
                    for i, job in zip(range(start, start + count), ids, strict=True)
                ]
            )
            pages = [p for job in ids for p in _pages(job, "other", PAGES_PER_OTHER_JOB)]
            await db[names.PAGES].insert_many(pages)
            logs = [
                log_line(job, "other", OrderingKey(1, s), level="info", message="y", at=NOW)
                for job in ids
                for s in range(1, 4)
            ]
            await db[names.LOGS].insert_many(logs)
            await db[names.WEBHOOK_DELIVERIES].insert_many(
                [
                    {
                        "_id": delivery_id(job, "m"),
                        "job_id": job,
                        "state": "delivered",
                        "created_at": NOW,
                        "next_attempt_at": None,
                    }
                    for job in ids
                ]
            )
            await db[names.CRAWLER_STATE].insert_many(
                [{"_id": state_chunk_id(job, 1, 0), "job_id": job} for job in ids]
            )
            # Other schedules: each with its next timer due later, and four earlier fires.
            await db[names.SCHEDULE_TIMERS].insert_many(
                [
                    timer_document(f"sched-{job}", 1, NOW + timedelta(hours=1 + i % 50))
                    for i, job in enumerate(ids)
                ]
            )
            await db[names.SCHEDULE_FIRES].insert_many(
                [
                    _fire(f"sched-{job}", NOW - timedelta(minutes=5 * k + i % 7))
                    for i, job in enumerate(ids)
                    for k in range(4)
                ]
            )

    await asyncio.gather(*(batch(start, 250) for start in range(0, OTHER_JOBS, 250)))


@pytest.fixture(scope="module")
async def databases(
    services: Services,
) -> AsyncIterator[tuple[AsyncDatabase[dict[str, Any]], AsyncDatabase[dict[str, Any]], Subject]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(services.mongodb_url, tz_aware=True)
    small, large = client[f"{services.database}_small"], client[f"{services.database}_large"]
    subject = Subject(job_id=f"{TENANT}-{uuid.uuid4().hex[:8]}", deep_cursor="")
    try:
        for db in (small, large):
            await ensure_indexes(db, *_COLLECTIONS)
            await _fill_subject(db, subject)
        started = time.monotonic()
        await _fill_others(large)
        print(f"\nlarge database filled in {time.monotonic() - started:.1f} s")
        listed = q.job_list(TENANT)
        tail = await small[names.CRAWLS].find(listed.filter).sort(listed.sort).skip(45).to_list(1)
        yield small, large, Subject(subject.job_id, tail[0]["list_key"])
    finally:
        await client.drop_database(small.name)
        await client.drop_database(large.name)
        await client.close()


_COLLECTIONS = (
    names.CRAWLS,
    names.PAGES,
    names.LOGS,
    names.WEBHOOK_DELIVERIES,
    names.ASSISTANT_RUNS,
    names.IDEMPOTENCY_KEYS,
    names.CRAWLER_STATE,
    names.CRAWLER_LEASES,
    names.STALL_MARKS,
    names.DEAD_LETTERS,
    names.SCHEDULE_TIMERS,
    names.SCHEDULE_FIRES,
)

Read = Callable[[AsyncDatabase[dict[str, Any]], Subject], Awaitable[object]]


async def _many(found: Any) -> object:
    return [doc async for doc in found]


READS: dict[str, Read] = {
    "job status": lambda db, s: JobStore(db).get(s.job_id, TENANT),
    "pages": lambda db, s: ReadStore(db).page_list(s.job_id, after=None, limit=50),
    "pages of one outcome": lambda db, s: ReadStore(db).page_list(
        s.job_id, after=None, limit=50, outcome="failed"
    ),
    "pages at a deep cursor": lambda db, s: ReadStore(db).page_list(
        s.job_id, after=OrderingKey(1, SUBJECT_PAGES - 60).number, limit=50
    ),
    "logs after a line": lambda db, s: ReadStore(db).log_list(
        s.job_id, after=OrderingKey(1, 50).number, limit=200
    ),
    "job list": lambda db, s: ReadStore(db).history(TENANT, HistoryFilter(), before=None, limit=20),
    "job list of a status": lambda db, s: ReadStore(db).history(
        TENANT, HistoryFilter(statuses=("completed",)), before=None, limit=20
    ),
    "job list of two statuses": lambda db, s: ReadStore(db).history(
        TENANT, HistoryFilter(statuses=("running", "completed")), before=None, limit=20
    ),
    "job list of a host": lambda db, s: ReadStore(db).history(
        TENANT, HistoryFilter(host="subject.example"), before=None, limit=20
    ),
    "job list at a deep cursor": lambda db, s: ReadStore(db).history(
        TENANT, HistoryFilter(), before=s.deep_cursor, limit=20
    ),
    "job list of a creation window": lambda db, s: ReadStore(db).history(
        TENANT,
        HistoryFilter(created_after=NOW - timedelta(hours=30), created_before=NOW),
        before=None,
        limit=20,
    ),
    "job by id prefix": lambda db, s: ReadStore(db).jobs_by_id_prefix(
        TENANT, s.job_id[: len(TENANT) + 5], limit=10
    ),
    "unfinished jobs of a tenant": lambda db, s: ReadStore(db).count_unfinished(TENANT),
    "webhook deliveries": lambda db, s: ReadStore(db).webhook_deliveries(s.job_id),
    "seed history": lambda db, s: _many(
        db[names.ASSISTANT_RUNS]
        .find(q.assistant_runs(TENANT, "helper").filter)
        .sort(q.assistant_runs(TENANT, "helper").sort)
        .limit(50)
    ),
    "dashboard runs": lambda db, s: DashboardReads(db).runs(TENANT, status="completed"),
    "dashboard pages of a reason": lambda db, s: DashboardReads(db).page_list(
        s.job_id, outcome="skipped", reason="out_of_scope"
    ),
    "dashboard log tail": lambda db, s: DashboardReads(db).log_tail(s.job_id),
    "dashboard overview": lambda db, s: DashboardReads(db).overview(TENANT),
    "dashboard reasons": lambda db, s: DashboardReads(db).reasons(s.job_id),
    "unfinished jobs (metrics)": lambda db, s: asyncio.gather(
        *(db[names.CRAWLS].count_documents({"status": st}) for st in q.UNFINISHED)
    ),
    "silent jobs (stall scan)": lambda db, s: StallDetector(
        db, _no_publish, stall_after=3600 * 24 * 365, max_attempts=3
    ).scan(NOW),
    "expired jobs (retention sweep)": lambda db, s: Retention(db).sweep(NOW - timedelta(days=400)),
    "webhook deliveries due": lambda db, s: _many(
        db[names.WEBHOOK_DELIVERIES]
        .find(q.due_deliveries(NOW).filter)
        .sort(q.due_deliveries(NOW).sort)
        .limit(50)
    ),
    "crawl state of a job": lambda db, s: LeaseStore(db, "w", 60).load(s.job_id, {1: 1}),
    "due schedule timers (scheduler)": lambda db, s: _many(
        db[names.SCHEDULE_TIMERS]
        .find(q.due_timers(NOW).filter)
        .sort(q.due_timers(NOW).sort)
        .limit(100)
    ),
    "a schedule's earlier fires": lambda db, s: _many(
        db[names.SCHEDULE_FIRES]
        .find(q.schedule_fires(SCHEDULE, before=NOW).filter)
        .sort(q.schedule_fires(SCHEDULE, before=NOW).sort)
        .limit(20)
    ),
}


async def _no_publish(message: object) -> None:
    raise AssertionError(f"nothing is silent here: {message}")


async def _median_seconds(
    read: Read, db: AsyncDatabase[dict[str, Any]], subject: Subject, repeat: int
) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await read(db, subject)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def test_no_read_grows_with_other_jobs_data(
    databases: tuple[AsyncDatabase[dict[str, Any]], AsyncDatabase[dict[str, Any]], Subject],
) -> None:
    small, large, subject = databases
    ratios: dict[str, tuple[float, float, float]] = {}
    for name, read in READS.items():
        await read(small, subject)  # warm both
        await read(large, subject)
        small_times, large_times = [], []
        for _ in range(5):  # alternating rounds: the machine's noise hits both sides
            small_times.append(await _median_seconds(read, small, subject, 3))
            large_times.append(await _median_seconds(read, large, subject, 3))
        a, b = statistics.median(small_times), statistics.median(large_times)
        ratios[name] = (a * 1000, b * 1000, b / a)
    report = "\n".join(
        f"  {name:32s} small {a:7.2f} ms  large {b:7.2f} ms  ratio {r:5.2f}"
        for name, (a, b, r) in ratios.items()
    )
    print(f"\n{report}")
    grown = {name: round(r, 1) for name, (_, _, r) in ratios.items() if r > MAX_RATIO}
    assert not grown, f"reads that grow with other jobs' data:\n{report}"
