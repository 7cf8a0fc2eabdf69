"""Job summaries for lists of runs: a finished job's is read once, an unfinished one's every
time, another tenant's never."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crawl_api.store import JobStore
from crawl_schema import names, new_job_document
from crawl_stack import Services

pytestmark = pytest.mark.integration


async def test_finished_summaries_are_remembered_and_unfinished_ones_read_again(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    db = mongo[services.database]
    jobs = {
        "sum-done": ("acme", "completed"),
        "sum-running": ("acme", "running"),
        "sum-other": ("globex", "completed"),
    }
    await db[names.CRAWLS].insert_many(
        [{**new_job_document(i, t), "status": s, "version": 2} for i, (t, s) in jobs.items()]
    )
    store = JobStore(db)
    first = await store.summaries(list(jobs), "acme")
    assert set(first) == {"sum-done", "sum-running"}
    assert "terminal" not in first["sum-done"], "a summary, not the whole document"
    # Changed behind the store's back: the finished one is never read again, the other is.
    await db[names.CRAWLS].update_many({}, {"$set": {"counters.fetched": 7}})
    again = await store.summaries(list(jobs), "acme")
    assert again["sum-done"]["counters"]["fetched"] == 0
    assert again["sum-running"]["counters"]["fetched"] == 7
    assert "sum-other" not in await store.summaries(["sum-other"], "acme")
    assert set(await store.summaries(["sum-other"], "globex")) == {"sum-other"}
