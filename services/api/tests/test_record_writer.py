"""RecordWriter's failure paths (a fake collection; the shared inserts against the real
database are in tests/integration/test_api_records.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError, DuplicateKeyError

from crawl_api.store import RecordWriter


class Collection:
    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.calls: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.inserting: asyncio.Task[Any] | None = None  # the task of the last insert

    async def insert_many(self, documents: list[dict[str, Any]], **_: Any) -> None:
        self.calls.append([d["_id"] for d in documents])
        self.inserting = asyncio.current_task()
        if self.gate is not None:
            await self.gate.wait()
        if any(d.get("bad") for d in documents):  # fails the whole insert, as a bad encode
            raise AutoReconnect("refused")
        errors = []
        for index, doc in enumerate(documents):
            if doc["_id"] in self.stored:
                errors.append({"index": index, "code": 11000, "errmsg": "duplicate"})
            else:
                self.stored[doc["_id"]] = doc
        if errors:
            raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": []})


async def test_one_bad_document_fails_only_its_caller() -> None:
    collection = Collection()
    writer = RecordWriter(collection)  # type: ignore[arg-type]
    collection.stored["taken"] = {"_id": "taken"}
    outcomes = await asyncio.gather(
        writer.insert({"_id": "first"}),
        writer.insert({"_id": "a"}),
        writer.insert({"_id": "bad", "bad": True}),
        writer.insert({"_id": "taken"}),
        writer.insert({"_id": "b"}),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert outcomes[1] is None
    assert isinstance(outcomes[2], AutoReconnect)
    assert isinstance(outcomes[3], DuplicateKeyError)
    assert outcomes[4] is None
    assert set(collection.stored) == {"first", "a", "taken", "b"}
    # Together first, then each alone.
    assert collection.calls == [
        ["first", "a", "bad", "taken", "b"],
        *[[i] for i in collection.calls[0]],
    ]


async def test_a_cancelled_writer_leaves_no_caller_waiting() -> None:
    collection = Collection()
    collection.gate = asyncio.Event()  # the insert never returns
    writer = RecordWriter(collection)  # type: ignore[arg-type]
    in_flight = asyncio.ensure_future(writer.insert({"_id": "a"}))
    await asyncio.sleep(0.01)
    queued = asyncio.ensure_future(writer.insert({"_id": "b"}))
    await asyncio.sleep(0.01)
    task = collection.inserting  # the writer's task, stuck in the insert
    assert task is not None
    assert collection.calls == [["a"]], "b waits for the insert in flight"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(in_flight, 1)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(queued, 1)
