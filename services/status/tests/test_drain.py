"""The order in which one job's batches reach the database (no database: fake collections)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from crawl_contracts import CrawlCompleted, CrawlLogged, PageRecorded
from crawl_status.store import ProjectionStore

from .events import history


class Collection:
    def __init__(self, name: str, journal: list[str]) -> None:
        self.name = name
        self.journal = journal
        self.docs: dict[str, dict[str, Any]] = {}
        self.gate: asyncio.Event | None = None

    async def insert_many(self, documents: list[dict[str, Any]], ordered: bool = True) -> None:
        self.journal.append(f"{self.name} insert started")
        if self.gate is not None:
            await self.gate.wait()
        self.docs.update({d["_id"]: d for d in documents})
        self.journal.append(f"{self.name} insert done")

    async def insert_one(self, document: dict[str, Any]) -> None:
        self.docs[document["_id"]] = document
        self.journal.append(f"{self.name} written {document.get('status')}")

    async def find_one(self, query: dict[str, Any], *_: Any) -> dict[str, Any] | None:
        found = self.docs.get(query["_id"])
        return dict(found) if found is not None else None

    async def find_one_and_update(self, *_: Any, **__: Any) -> None:
        return None  # no record of the API's: the command creates the document

    async def replace_one(self, query: dict[str, Any], document: dict[str, Any]) -> Any:
        current = self.docs.get(query["_id"])
        if current is None or current.get("version") != query["version"]:
            return SimpleNamespace(matched_count=0)
        self.docs[query["_id"]] = document
        self.journal.append(f"{self.name} written {document.get('status')}")
        return SimpleNamespace(matched_count=1)


class Database:
    def __init__(self) -> None:
        self.journal: list[str] = []
        self.collections = {
            name: Collection(name, self.journal) for name in ("crawls", "crawl_pages", "crawl_logs")
        }

    def __getitem__(self, name: str) -> Collection:
        return self.collections[name]


async def test_pages_alone_do_not_hold_up_the_next_batch_but_hold_up_the_job_document() -> None:
    db = Database()
    store = ProjectionStore(db)  # type: ignore[arg-type]
    store.stamp_children = False
    messages = history()
    requested, started = messages[0], messages[1]
    page = next(m for m in messages if isinstance(m, PageRecorded))
    line = next(m for m in messages if isinstance(m, CrawlLogged))
    completed = messages[-1]
    assert isinstance(completed, CrawlCompleted)
    await store.apply(requested)
    await store.apply(started)  # written: running

    del db.journal[:]
    pages_gate = asyncio.Event()
    db["crawl_pages"].gate = pages_gate
    applying = [asyncio.create_task(store.apply(page))]
    await asyncio.sleep(0.01)  # the page insert is in flight
    applying.append(asyncio.create_task(store.apply(line)))
    await asyncio.sleep(0.01)
    assert "crawl_logs insert done" in db.journal, "a log line does not wait for the page"
    applying.append(asyncio.create_task(store.apply(completed)))
    await asyncio.sleep(0.01)
    assert "crawls written completed" not in db.journal, "the end waits for the page"
    pages_gate.set()
    await asyncio.gather(*applying)
    journal = db.journal
    assert journal.index("crawl_pages insert done") < journal.index("crawls written completed")
    assert db["crawls"].docs[completed.job_id]["status"] == "completed"


async def test_the_line_an_ending_stands_for_is_written_beside_the_ending() -> None:
    db = Database()
    store = ProjectionStore(db)  # type: ignore[arg-type]
    store.stamp_children = False
    messages = history()
    for message in messages[:2]:  # requested, started
        await store.apply(message)
    completed = messages[-1]
    logs_gate = asyncio.Event()
    db["crawl_logs"].gate = logs_gate
    del db.journal[:]
    ending = asyncio.create_task(store.apply(completed))
    await asyncio.sleep(0.01)
    assert sorted(db.journal) == ["crawl_logs insert started", "crawls written completed"]
    assert not ending.done(), "acknowledged only once its line is stored too"
    logs_gate.set()
    await ending
    line = db["crawl_logs"].docs[f"{completed.job_id}:000001:{completed.seq:012d}"]
    assert line["message"] == "crawl finished (exhausted): 3 pages fetched"
