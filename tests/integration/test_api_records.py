"""The API's records of submitted jobs: concurrent submissions share inserts, and each caller
gets its own document's outcome (real MongoDB/FerretDB)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from crawl_api.store import RecordWriter
from crawl_stack import Services


class CountingCollection:
    """The real collection, counting the inserts that reach it."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.batches: list[int] = []

    async def insert_many(self, documents: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.batches.append(len(documents))
        return await self.collection.insert_many(documents, **kwargs)


async def test_concurrent_records_share_inserts_and_a_duplicate_fails_alone(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    crawls = mongo[services.database]["records_test"]
    await crawls.insert_one({"_id": "taken", "status": "running"})
    counting = CountingCollection(crawls)
    writer = RecordWriter(counting)  # type: ignore[arg-type]
    ids = [f"job-{n}" for n in range(40)]
    outcomes = await asyncio.gather(
        *(writer.insert({"_id": i, "status": "pending"}) for i in [*ids[:20], "taken", *ids[20:]]),
        return_exceptions=True,
    )
    assert isinstance(outcomes[20], DuplicateKeyError)
    assert [o for n, o in enumerate(outcomes) if n != 20] == [None] * 40
    stored = {d["_id"]: d["status"] async for d in crawls.find({})}
    assert stored == {"taken": "running", **dict.fromkeys(ids, "pending")}
    assert sum(counting.batches) == 41
    assert len(counting.batches) < 41, "concurrent callers go out together"
    # A lone caller's insert leaves at once, on its own.
    await writer.insert({"_id": "alone", "status": "pending"})
    assert counting.batches[-1] == 1
    with pytest.raises(DuplicateKeyError):
        await writer.insert({"_id": "alone", "status": "pending"})
