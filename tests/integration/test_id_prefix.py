"""Short ids resolved on the real server: a prefix finds the caller's jobs and only theirs, in
id order, from the ``_id`` index (on the pushdown build, ``explain`` shows it), and a prefix
too many stored jobs share is refused rather than read on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from crawl_api.reads import ID_PREFIX_SCAN, PrefixTooShortError, ReadStore
from crawl_schema import ensure_indexes, names, new_job_document
from crawl_schema import queries as q
from crawl_stack import Services

pytestmark = pytest.mark.integration

JOBS = {
    "63717066-0c5e-4f43-9b6e-2d6c1e1f0a9d": "acme",
    "63717066-9d0a-4b1e-8f43-1c2d3e4f5a6b": "acme",  # shares 9 characters with the first
    "6371a000-1111-4222-8333-444455556666": "acme",
    "6371b000-1111-4222-8333-444455556666": "globex",
    "6372ffff-1111-4222-8333-444455556666": "acme",  # just past the range of 6371
    "637170-x": "acme",  # an id of another shape, inside the range of 6371
}


@pytest.fixture
async def db(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    database = mongo[f"{services.database}_idprefix"]
    await ensure_indexes(database, names.CRAWLS)
    await database[names.CRAWLS].insert_many(
        [new_job_document(job_id, tenant) for job_id, tenant in JOBS.items()]
    )
    yield database
    await mongo.drop_database(database.name)


async def ids(reads: ReadStore, tenant: str, prefix: str, limit: int = 10) -> list[str]:
    return [d["_id"] for d in await reads.jobs_by_id_prefix(tenant, prefix, limit=limit)]


async def test_a_prefix_finds_the_tenants_jobs_that_start_with_it_in_id_order(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    reads = ReadStore(db)
    acme = sorted(i for i, t in JOBS.items() if t == "acme" and i.startswith("6371"))
    assert await ids(reads, "acme", "6371") == acme
    assert await ids(reads, "acme", "6371", limit=2) == acme[:2]
    assert await ids(reads, "acme", "63717066") == acme[1:3]
    assert await ids(reads, "acme", "63717066-0") == ["63717066-0c5e-4f43-9b6e-2d6c1e1f0a9d"]
    full = "63717066-9d0a-4b1e-8f43-1c2d3e4f5a6b"
    assert await ids(reads, "acme", full) == [full]
    assert await ids(reads, "acme", "6371b") == []  # globex's job: not the caller's
    assert await ids(reads, "globex", "6371") == ["6371b000-1111-4222-8333-444455556666"]
    assert await ids(reads, "acme", "0000") == []
    summary = (await reads.jobs_by_id_prefix("acme", full, limit=1))[0]
    assert {"status", "request", "counters", "created_at"} <= set(summary)


async def test_a_prefix_that_more_jobs_share_than_are_read_is_refused(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    await db[names.CRAWLS].insert_many(
        [new_job_document(f"abcd{i:05d}", "globex") for i in range(ID_PREFIX_SCAN + 1)]
    )
    await db[names.CRAWLS].insert_one(new_job_document("abcdz", "acme"))
    reads = ReadStore(db)
    with pytest.raises(PrefixTooShortError):
        await reads.jobs_by_id_prefix("acme", "abcd", limit=2)
    assert await ids(reads, "acme", "abcdz") == ["abcdz"]
    assert len(await ids(reads, "globex", "abcd", limit=2)) == 2  # found before the end


async def test_the_pushdown_build_reads_the_prefix_from_the_id_index(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    if "queryPushdown" not in await db.client.admin.command("buildInfo"):
        pytest.skip("not the FerretDB build with pushdown (MongoDB plans its own way)")
    query = q.job_id_prefix("6371")
    plan = await db.command(
        {"explain": {"find": names.CRAWLS, "filter": query.filter, "sort": dict(query.sort)}}
    )
    assert plan["filterPushdown"]
    assert plan["sortPushdown"]
    steps = " ".join(plan["queryPlanner"]["Plan"])
    assert "USING INDEX" in steps
    assert "_id_" in steps
    assert "TEMP B-TREE" not in steps
