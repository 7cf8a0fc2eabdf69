"""The stall detector and the retention sweeper against the real database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crawl_contracts import STATUS_SEQ, Counters, CrawlReleased, Envelope
from crawl_contracts.envelope import utcnow
from crawl_schema import names
from crawl_stack import Services
from crawl_status.retention import Retention
from crawl_status.stall import StallDetector

pytestmark = pytest.mark.integration

REQUEST = {"url": "https://example.com/", "max_pages": 10, "max_depth": 1}


def job(status: str, silent: float, attempt: int = 1) -> dict[str, Any]:
    return {
        "_id": f"{status}-{uuid.uuid4().hex[:8]}",
        "tenant": "acme",
        "status": status,
        "attempt": attempt,
        "request": REQUEST,
        "worker_id": "w1",
        "counters": {"discovered": 3, "queued": 1, "fetched": 2},
        "last_activity_at": utcnow() - timedelta(seconds=silent),
    }


async def test_silent_jobs_are_resumed_cancelled_or_failed_once_each(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    db = mongo[services.database]
    silent, fresh, stopping, worn_out = (
        job("running", 60),
        job("running", 1),
        job("cancelling", 60),
        job("running", 60, attempt=3),
    )
    await db.crawls.insert_many([silent, fresh, stopping, worn_out])
    published: list[Envelope] = []

    async def publish(message: Envelope) -> None:
        published.append(message)

    detector = StallDetector(db, publish, stall_after=30, max_attempts=3)
    await detector.scan(utcnow())

    ours = {silent["_id"], fresh["_id"], stopping["_id"], worn_out["_id"]}
    said = {(m.job_id, m.type, m.attempt) for m in published if m.job_id in ours}
    assert said == {
        (silent["_id"], "CrawlStalled", 1),
        (silent["_id"], "CrawlResumeRequested", 2),
        (stopping["_id"], "CrawlCancelled", 1),
        (worn_out["_id"], "CrawlStalled", 3),
        (worn_out["_id"], "CrawlFailed", 3),
    }
    failed = next(m for m in published if m.type == "CrawlFailed")
    assert failed.seq == STATUS_SEQ
    assert failed.error_code == "stalled"  # type: ignore[attr-defined]

    published.clear()
    await detector.scan(utcnow())
    assert [m for m in published if m.job_id in ours] == []  # each attempt is handled once


async def test_every_scan_finds_the_jobs_silent_by_then_whoever_projected_them(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    db = mongo[services.database]
    published: list[Envelope] = []

    async def publish(message: Envelope) -> None:
        published.append(message)

    detector = StallDetector(db, publish, stall_after=30, max_attempts=3)
    young, finished = job("running", 1), job("running", 60)
    await db.crawls.insert_many([young, finished])
    await db.crawls.update_one({"_id": finished["_id"]}, {"$set": {"status": "completed"}})
    await detector.scan(utcnow())
    said = {m.job_id for m in published}
    assert young["_id"] not in said, "not silent yet"
    assert finished["_id"] not in said, "finished: nobody has to speak for it"
    await detector.scan(utcnow() + timedelta(seconds=60))  # a minute on: silent
    assert young["_id"] in {m.job_id for m in published}


async def test_a_handed_back_attempt_is_resumed_at_once_and_not_counted_as_lost(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    db = mongo[services.database]
    published: list[Envelope] = []

    async def publish(message: Envelope) -> None:
        published.append(message)

    detector = StallDetector(db, publish, stall_after=30, max_attempts=3)
    released = job("running", 1, attempt=2)  # just handed back
    await db.crawls.insert_one(released)
    event = CrawlReleased(
        job_id=released["_id"],
        tenant="acme",
        attempt=2,
        seq=40,
        worker_id="w1",
        counters=Counters(),
    )
    assert await detector.released(event)
    assert await detector.released(event) is False, "once per attempt"
    assert [(m.type, m.attempt) for m in published] == [("CrawlResumeRequested", 3)]

    # Attempt 3 of 3 fell silent, but attempt 2 was handed back, not lost: one more is asked.
    await db.crawls.update_one(
        {"_id": released["_id"]},
        {"$set": {"attempt": 3, "released_attempts": [2]}},
    )
    published.clear()
    await detector.scan(utcnow() + timedelta(seconds=60))
    said = [(m.type, m.attempt) for m in published if m.job_id == released["_id"]]
    assert said == [("CrawlStalled", 3), ("CrawlResumeRequested", 4)]


async def test_the_sweeper_deletes_expired_jobs_with_all_they_left_only(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    db = mongo[services.database]
    retention = Retention(db)
    now = utcnow()
    old, kept = f"old-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
    await db.crawls.insert_many(
        [
            {"_id": old, "status": "completed", "expires_at": now - timedelta(seconds=1)},
            {"_id": kept, "status": "completed", "expires_at": now + timedelta(days=1)},
        ]
    )
    children: dict[str, Callable[[str, int], dict[str, Any]]] = {
        names.PAGES: lambda j, i: {"_id": f"{j}:p{i:05d}", "job_id": j},
        names.LOGS: lambda j, i: {"_id": f"{j}:{i:06d}:000000000001", "job_id": j},
        names.WEBHOOK_DELIVERIES: lambda j, i: {"_id": f"{j}:m{i}", "job_id": j},
        names.DEAD_LETTERS: lambda j, i: {"_id": f"q:{j}:{i}", "job_id": j},
        names.STALL_MARKS: lambda j, i: {"_id": f"{j}:{i:06d}", "job_id": j},
        names.CRAWLER_STATE: lambda j, i: {"_id": f"{j}:000001:{i:08d}", "job_id": j},
    }
    for job_id in (old, kept):
        # More pages than one delete command takes: the sweep goes on until none is left.
        await db[names.PAGES].insert_many([children[names.PAGES](job_id, i) for i in range(2_500)])
        for name, make in children.items():
            if name != names.PAGES:
                await db[name].insert_many([make(job_id, i) for i in range(3)])
        await db[names.CRAWLER_LEASES].insert_one({"_id": job_id, "attempt": 1})
    await db[names.IDEMPOTENCY_KEYS].insert_many(
        [
            {"_id": "acme:gone", "job_id": old, "expires_at": now - timedelta(seconds=1)},
            {"_id": "acme:kept", "job_id": kept, "expires_at": now + timedelta(hours=1)},
        ]
    )

    assert await retention.sweep(now) == 1

    for name in (names.CRAWLS, *children, names.CRAWLER_LEASES):
        left = {str(d["_id"]) async for d in db[name].find({}, {"_id": 1})}
        assert not any(key.startswith(old) or f":{old}:" in key for key in left), name
        assert any(key.startswith(kept) or f":{kept}:" in key for key in left), name
    assert {d["_id"] async for d in db[names.IDEMPOTENCY_KEYS].find()} == {"acme:kept"}
