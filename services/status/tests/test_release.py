"""A job its worker handed back (``CrawlReleased``): projected without a status of its own,
and resumed at once, once, and only while the released attempt is the job's current one (no
database: fake collections)."""

from __future__ import annotations

import asyncio
from functools import reduce
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pymongo.errors import DuplicateKeyError

from crawl_contracts import (
    Counters,
    CrawlReleased,
    CrawlResumeRequested,
    Envelope,
    JobStatus,
)
from crawl_schema import names
from crawl_schema.keys import stall_mark_id
from crawl_status.projection import lifecycle_log, reduce_job
from crawl_status.stall import StallDetector

from .events import released_history


def fold(messages: list[Any]) -> dict[str, Any]:
    doc = reduce(reduce_job, messages, None)
    assert doc is not None
    return doc


def released_at(messages: list[Any]) -> int:
    return next(i for i, m in enumerate(messages) if isinstance(m, CrawlReleased))


def test_a_released_job_stays_running_with_the_counters_of_its_last_commit() -> None:
    messages = released_history()
    i = released_at(messages)
    release = messages[i]
    doc = fold(messages[: i + 1])
    assert (doc["status"], doc["attempt"], doc["worker_id"]) == (JobStatus.RUNNING, 1, "w1")
    assert doc["counters"] == release.counters.model_dump()
    assert doc["released_attempts"] == [1]
    doc = fold(messages[: i + 2])  # the resume request names attempt 2
    assert (doc["status"], doc["attempt"]) == (JobStatus.RUNNING, 2)
    doc = fold(messages[: i + 3])  # attempt 2 started
    assert (doc["status"], doc["worker_id"]) == (JobStatus.RUNNING, "w2")
    doc = fold(messages)
    assert (doc["status"], doc["attempt"]) == (JobStatus.COMPLETED, 2)
    assert doc["counters"]["fetched"] == 3
    assert doc["stalled_attempt"] is None


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_shuffle_and_duplication_of_a_released_job_gives_the_same_document(
    data: st.DataObject,
) -> None:
    messages = released_history()
    expected = fold(messages)
    extra = data.draw(st.lists(st.sampled_from(messages), max_size=len(messages)))
    shuffled = data.draw(st.permutations(messages + extra))
    assert fold(shuffled) == expected


def test_a_release_stands_for_a_log_line_of_its_own() -> None:
    release = released_history()[released_at(released_history())]
    line = lifecycle_log(release)
    assert line is not None
    assert line["level"] == "info"
    assert line["message"] == (
        "crawl handed back by worker w1 (shutdown) after 1 pages fetched: resuming on another "
        "worker"
    )
    assert line["order"] == release.ordering_key.number


class Collection:
    """What the detector asks of a collection, in memory."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def find_one(self, query: dict[str, Any], *_: Any) -> dict[str, Any] | None:
        found = self.docs.get(query["_id"])
        return dict(found) if found is not None else None

    async def insert_one(self, document: dict[str, Any]) -> None:
        if document["_id"] in self.docs:
            raise DuplicateKeyError("duplicate key")
        self.docs[document["_id"]] = dict(document)


class Database:
    def __init__(self) -> None:
        self.collections = {names.CRAWLS: Collection(), names.STALL_MARKS: Collection()}

    def __getitem__(self, name: str) -> Collection:
        return self.collections[name]


def detector(db: Database, published: list[Envelope]) -> StallDetector:
    async def publish(message: Envelope) -> None:
        await asyncio.sleep(0.01)  # the broker's confirm
        published.append(message)

    return StallDetector(db, publish, stall_after=60, max_attempts=3)  # type: ignore[arg-type]


def projected(db: Database, messages: list[Any]) -> None:
    doc = fold(messages)
    db[names.CRAWLS].docs[doc["_id"]] = doc


async def test_a_release_asks_for_the_next_attempt_at_once_and_only_once() -> None:
    db, published = Database(), list[Envelope]()
    messages = released_history()
    i = released_at(messages)
    release = messages[i]
    projected(db, messages[: i + 1])
    stalls = detector(db, published)

    assert await stalls.released(release) is True
    [resume] = published
    assert isinstance(resume, CrawlResumeRequested)
    assert (resume.job_id, resume.attempt) == (release.job_id, 2)
    assert resume.request.url == "https://example.com/"
    assert resume.reason == "handed back by worker w1 (shutdown)"

    assert await stalls.released(release) is False, "a redelivered release resumes nothing"
    assert len(published) == 1
    projected(db, messages[: i + 2])  # the resume request projected: attempt 2
    assert await stalls.released(release) is False
    assert len(published) == 1


async def test_copies_of_a_release_handled_at_once_resume_the_job_once() -> None:
    db, published = Database(), list[Envelope]()
    messages = released_history()
    i = released_at(messages)
    release = messages[i]
    projected(db, messages[: i + 1])
    stalls = detector(db, published)
    asked = await asyncio.gather(*(stalls.released(release) for _ in range(3)))
    assert sorted(asked) == [False, False, True]
    assert [(m.type, m.attempt) for m in published] == [("CrawlResumeRequested", 2)]


async def test_a_release_of_an_attempt_no_longer_current_is_ignored() -> None:
    db, published = Database(), list[Envelope]()
    messages = released_history()
    release = messages[released_at(messages)]
    projected(db, [m for m in messages if m is not release])  # attempt 2 went on, and ended
    stalls = detector(db, published)
    assert await stalls.released(release) is False

    running = [m for m in messages if m.attempt == 1 or m.type == "CrawlResumeRequested"]
    projected(db, running)  # attempt 2 asked for (by the stall detector, say): not current
    assert await stalls.released(release) is False
    assert published == []


async def test_a_release_of_an_attempt_the_stall_detector_resumed_is_ignored() -> None:
    db, published = Database(), list[Envelope]()
    messages = released_history()
    i = released_at(messages)
    release = messages[i]
    projected(db, messages[: i + 1])
    mark = stall_mark_id(release.job_id, 1)
    await db[names.STALL_MARKS].insert_one({"_id": mark, "job_id": release.job_id})
    assert await detector(db, published).released(release) is False
    assert published == []


async def test_a_released_counter_snapshot_is_what_the_job_shows_until_the_next_attempt() -> None:
    messages = released_history()
    i = released_at(messages)
    doc = fold(messages[: i + 3])  # released, resumed, attempt 2 started (no progress yet)
    assert Counters(**doc["counters"]) == messages[i].counters
