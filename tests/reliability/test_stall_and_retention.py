"""The stall detector and the retention sweeper against the real database."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crawl_contracts import Envelope
from crawl_contracts.envelope import utcnow
from crawl_status.retention import Retention
from crawl_status.stall import STATUS_SEQ, StallDetector
from tests.conftest import Services

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

    # Every scan a full one: the second below must find the same jobs to prove the marks.
    detector = StallDetector(db, publish, stall_after=30, max_attempts=3, full_scan_every=0)
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


async def test_between_full_scans_only_the_jobs_this_replica_projected_are_read(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    db = mongo[services.database]
    published: list[Envelope] = []

    async def publish(message: Envelope) -> None:
        published.append(message)

    clock = [0.0]
    detector = StallDetector(
        db, publish, stall_after=30, max_attempts=3, full_scan_every=60, clock=lambda: clock[0]
    )
    before = job("running", 60)
    await db.crawls.insert_one(before)
    await detector.scan(utcnow())  # the first scan reads the whole collection
    assert before["_id"] in {m.job_id for m in published}

    elsewhere, projected, finished = job("running", 60), job("running", 60), job("running", 60)
    await db.crawls.insert_many([elsewhere, projected, finished])
    detector.note(projected)  # written by this replica's projection
    detector.note(finished)
    await db.crawls.update_one({"_id": finished["_id"]}, {"$set": {"status": "completed"}})
    published.clear()
    clock[0] = 30.0
    await detector.scan(utcnow())
    said = {m.job_id for m in published}
    assert projected["_id"] in said, "a job followed in memory is checked at every scan"
    assert finished["_id"] not in said, "each candidate is read again: it finished meanwhile"
    assert elsewhere["_id"] not in said, "no full scan before full_scan_every"

    detector.note({**projected, "status": "completed"})  # its end, as projected
    published.clear()
    clock[0] = 61.0
    await detector.scan(utcnow())
    assert elsewhere["_id"] in {m.job_id for m in published}, "the next full scan finds it"

    # After a restart, the first full scan follows every watched job, silent or not yet: one
    # that falls silent later is found without waiting for the next full scan.
    restarted = StallDetector(
        db, publish, stall_after=30, max_attempts=3, full_scan_every=60, clock=lambda: 0.0
    )
    young = job("running", 1)
    await db.crawls.insert_one(young)
    published.clear()
    await restarted.scan(utcnow())
    assert young["_id"] not in {m.job_id for m in published}
    await restarted.scan(utcnow() + timedelta(seconds=60))  # a minute on: silent
    assert young["_id"] in {m.job_id for m in published}


async def test_the_sweeper_deletes_expired_jobs_with_their_pages_and_logs_only(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    db = mongo[services.database]
    retention = Retention(db)
    await retention.start()
    now = utcnow()
    old, kept = f"old-{uuid.uuid4().hex[:8]}", f"kept-{uuid.uuid4().hex[:8]}"
    await db.crawls.insert_many(
        [
            {"_id": old, "status": "completed", "expires_at": now - timedelta(seconds=1)},
            {"_id": kept, "status": "completed", "expires_at": now + timedelta(days=1)},
        ]
    )
    for job_id in (old, kept):
        await db.crawl_pages.insert_one({"_id": f"{job_id}:p", "job_id": job_id})
        await db.crawl_logs.insert_one({"_id": f"{job_id}:l", "job_id": job_id})

    await retention.sweep(now)

    for collection in (db.crawls, db.crawl_pages, db.crawl_logs):
        assert await collection.count_documents({"_id": {"$regex": f"^{old}"}}) == 0
        assert await collection.count_documents({"_id": {"$regex": f"^{kept}"}}) == 1
