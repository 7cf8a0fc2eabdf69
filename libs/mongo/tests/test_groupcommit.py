"""Group commit of concurrent writes (no database: a fake write)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crawl_mongo.groupcommit import GroupCommit


class Writes:
    def __init__(self) -> None:
        self.calls: list[list[Any]] = []
        self.fail = False
        self.gate = asyncio.Event()

    async def __call__(self, documents: list[dict[str, Any]]) -> None:
        self.calls.append([d["n"] for d in documents])
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("database down")


async def test_writes_arriving_during_a_write_go_out_together_in_the_next_one() -> None:
    writes = Writes()
    group = GroupCommit(writes)
    first = asyncio.create_task(group.write([{"n": 1}]))
    await asyncio.sleep(0)  # the first write is in flight
    later = [asyncio.create_task(group.write([{"n": n}, {"n": n * 10}])) for n in (2, 3)]
    await asyncio.sleep(0)
    writes.gate.set()
    await asyncio.gather(first, *later)
    assert writes.calls == [[1], [2, 20, 3, 30]]


async def test_every_caller_of_a_failed_write_gets_its_error_and_the_next_write_works() -> None:
    writes = Writes()
    writes.fail = True
    group = GroupCommit(writes)
    calls = [asyncio.create_task(group.write([{"n": n}])) for n in (1, 2)]
    await asyncio.sleep(0)
    writes.gate.set()
    for call in calls:
        with pytest.raises(RuntimeError):
            await call
    writes.fail = False
    await group.write([{"n": 3}])
    assert writes.calls[-1] == [3]


async def test_a_failed_merged_write_fails_only_the_caller_whose_documents_fail() -> None:
    written: list[list[int]] = []
    gate = asyncio.Event()

    async def write(documents: list[dict[str, Any]]) -> None:
        await gate.wait()
        if any(d["n"] == 666 for d in documents):
            raise ValueError("refused document")
        written.append([d["n"] for d in documents])

    group = GroupCommit(write)
    first = asyncio.create_task(group.write([{"n": 1}]))
    await asyncio.sleep(0)  # in flight: the next two are merged
    bad = asyncio.create_task(group.write([{"n": 666}]))
    good = asyncio.create_task(group.write([{"n": 2}]))
    await asyncio.sleep(0)
    gate.set()
    await first
    await good
    with pytest.raises(ValueError, match="refused"):
        await bad
    assert written == [[1], [2]]
