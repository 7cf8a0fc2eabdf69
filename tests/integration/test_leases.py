"""Job leases on the real database: one holder per attempt, the deadline set by the first
claim, a cancel heard before any claim kept for the claimer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crawl_contracts.envelope import utcnow
from crawl_schema import names
from crawl_schema.keys import url_hash
from crawl_schema.state import StateDelta, state_pieces
from crawl_stack import Services
from crawl_worker.lease import ClaimState, LeaseStore

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
    held = await two.claim(job, 2, max_duration=5)  # not while attempt 1's lease is alive
    assert held.state is ClaimState.HELD
    assert held.attempt == 1
    await database["crawler_leases"].update_one(
        {"_id": job}, {"$set": {"lease_until": utcnow() - timedelta(seconds=1)}}
    )
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


async def test_committed_pieces_rebuild_the_state_and_nothing_else_counts(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    database = mongo[services.database]
    one = LeaseStore(database, "worker-1", lease_seconds=30)
    two = LeaseStore(database, "worker-2", lease_seconds=30)
    job = str(uuid.uuid4())
    claim = await one.claim(job, 1, max_duration=600)
    assert claim.pieces == {}
    first = StateDelta(
        urls=["http://a/", "http://a/1", "http://a/2"],
        depths=[0, 1, 1],
        done=[url_hash("http://a/")],
        seen=[url_hash("http://b/")],
        hashes=["h0"],
        counters={"discovered": 4, "queued": 2, "fetched": 1, "skipped": 1},
    )
    docs = state_pieces(job, 1, 0, first, utcnow())
    lease = await one.commit(job, 1, docs, {1: len(docs)})
    assert lease is not None
    assert await one.commit(job, 1, docs, {1: len(docs)}) is not None, "a retry is harmless"
    # Written but never named by the lease (its commit did not happen): never read.
    stray = StateDelta(done=[url_hash("http://a/1")], counters={"fetched": 99})
    await database[names.CRAWLER_STATE].insert_many(
        state_pieces(job, 1, len(docs), stray, utcnow())
    )

    resumed = await two.claim(job, 2, max_duration=600)
    assert resumed.state is ClaimState.HELD  # attempt 1's lease is alive
    await database[names.CRAWLER_LEASES].update_one(
        {"_id": job}, {"$set": {"lease_until": utcnow() - timedelta(seconds=1)}}
    )
    resumed = await two.claim(job, 2, max_duration=600)
    assert resumed.state is ClaimState.CLAIMED
    assert resumed.pieces == {1: len(docs)}
    state = await two.load(job, resumed.pieces)
    assert list(state.frontier) == [("http://a/1", 1), ("http://a/2", 1)]
    assert state.seen == {
        url_hash(u) for u in ("http://a/", "http://a/1", "http://a/2", "http://b/")
    }
    assert state.hashes == {"h0"}
    assert state.counters["fetched"] == 1
    # The attempt that lost the lease can commit nothing any more.
    assert await one.commit(job, 1, [], {1: len(docs)}) is None
    second = state_pieces(job, 2, 0, StateDelta(counters={"fetched": 2}), utcnow())
    assert await two.commit(job, 2, second, {1: len(docs), 2: 1}) is not None
    await two.finish(job, 2)
    assert await database[names.CRAWLER_STATE].count_documents({"job_id": job}) == 0


async def test_a_released_attempt_is_claimed_at_once_by_the_next_and_never_again(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    database = mongo[services.database]
    one = LeaseStore(database, "worker-1", lease_seconds=600)
    two = LeaseStore(database, "worker-2", lease_seconds=600)
    job = str(uuid.uuid4())
    assert (await one.claim(job, 1, max_duration=3600)).state is ClaimState.CLAIMED
    docs = state_pieces(job, 1, 0, StateDelta(urls=["http://a/"], depths=[0]), utcnow())
    assert await one.commit(job, 1, docs, {1: len(docs)}) is not None
    assert not await two.release(job, 1), "only the holder hands an attempt back"
    assert await one.release(job, 1)
    assert not await one.release(job, 1), "once"
    assert await one.commit(job, 1, [], {1: len(docs)}) is None, "nothing after the release"

    # Its lease had ten minutes left: the next attempt takes the job at once, with its pieces.
    stale = await two.claim(job, 1, max_duration=3600)  # a late copy of attempt 1's command
    assert stale.state is ClaimState.DONE
    resumed = await two.claim(job, 2, max_duration=3600)
    assert resumed.state is ClaimState.CLAIMED
    assert resumed.pieces == {1: len(docs)}
    assert (await one.claim(job, 2, max_duration=3600)).state is ClaimState.HELD
