"""Job leases on the real database: one holder per attempt, the deadline set by the first
claim, a cancel heard before any claim kept for the claimer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crawl_worker.lease import ClaimState, LeaseStore
from tests.conftest import Services

pytestmark = pytest.mark.integration


async def test_the_first_claim_sets_the_deadline_and_holds_the_attempt(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    database = mongo[services.database]
    one = LeaseStore(database, "worker-1", lease_seconds=30)
    two = LeaseStore(database, "worker-2", lease_seconds=30)
    job = str(uuid.uuid4())
    first = await one.claim(job, 1, max_duration=600)
    assert first.state is ClaimState.CLAIMED
    assert first.deadline_at is not None
    assert first.lease_until is not None
    # Both from the claim's clock: the deadline is max_duration out, the lease 30 s.
    slack = (first.deadline_at - first.lease_until) - timedelta(seconds=570)
    assert abs(slack) < timedelta(seconds=1)
    stored = await database["crawler_leases"].find_one({"_id": job})
    assert stored is not None
    assert stored["deadline_at"] == first.deadline_at
    assert (await two.claim(job, 1, max_duration=600)).state is ClaimState.HELD
    resumed = await two.claim(job, 2, max_duration=5)  # a later attempt keeps the deadline
    assert resumed.state is ClaimState.CLAIMED
    assert resumed.deadline_at == first.deadline_at
    await two.finish(job, 2)
    assert (await one.claim(job, 3, max_duration=600)).state is ClaimState.DONE


async def test_a_cancel_heard_before_the_first_claim_reaches_the_claimer(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    database = mongo[services.database]
    leases = LeaseStore(database, "worker-1", lease_seconds=30)
    job = str(uuid.uuid4())
    await leases.request_cancel(job)
    claim = await leases.claim(job, 1, max_duration=600)
    assert claim.state is ClaimState.CLAIMED
    assert claim.cancel_requested
    assert claim.deadline_at is not None


async def test_a_finished_job_is_not_claimed_and_stays_unclaimable(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    database = mongo[services.database]
    leases = LeaseStore(database, "worker-1", lease_seconds=30)
    job = str(uuid.uuid4())
    await database["crawls"].insert_one({"_id": job, "tenant": "t", "status": "cancelled"})
    assert (await leases.claim(job, 1, max_duration=600)).state is ClaimState.DONE
    await database["crawls"].delete_one({"_id": job})  # e.g. removed by retention since
    assert (await leases.claim(job, 2, max_duration=600)).state is ClaimState.DONE
