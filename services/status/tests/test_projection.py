"""The reducer: idempotent, order-tolerant, terminal states absorbing."""

from __future__ import annotations

from datetime import timedelta
from functools import reduce
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crawl_contracts import Counters, CrawlCancelled, CrawlFailed, CrawlLogged, JobStatus
from crawl_status.projection import (
    lifecycle_log,
    log_document,
    page_document,
    reduce_job,
)

from .events import T0, history, resumed_history


def fold(messages: list[Any], start: dict[str, Any] | None = None) -> dict[str, Any] | None:
    return reduce(reduce_job, messages, start)


def test_history_in_order_gives_a_completed_job_with_final_counters() -> None:
    doc = fold(history())
    assert doc is not None
    assert doc["status"] == JobStatus.COMPLETED
    assert doc["stop_reason"] == "exhausted"
    assert doc["counters"]["fetched"] == 3
    assert doc["created_at"] == T0
    assert doc["finished_at"] is not None
    assert doc["request"]["url"] == "https://example.com/"


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_shuffle_and_duplication_gives_the_same_document(data: st.DataObject) -> None:
    messages = history(cancel=data.draw(st.booleans()))
    expected = fold(messages)
    extra = data.draw(st.lists(st.sampled_from(messages), max_size=len(messages)))
    shuffled = data.draw(st.permutations(messages + extra))
    assert fold(shuffled) == expected


@given(st.permutations(history()))
def test_status_never_goes_back_once_terminal(messages: list[Any]) -> None:
    doc: dict[str, Any] | None = None
    terminal_seen = False
    for message in messages:
        doc = reduce_job(doc, message)
        if message.type == "CrawlCompleted":
            terminal_seen = True
        if terminal_seen:
            assert doc["status"] == JobStatus.COMPLETED


def test_cancel_request_makes_a_running_job_cancelling_then_cancelled() -> None:
    messages = history(cancel=True)[:-1]  # without the completion
    doc = fold(messages)
    assert doc is not None
    assert doc["status"] == JobStatus.CANCELLING
    last = messages[-2]
    cancelled = CrawlCancelled(
        job_id=last.job_id, tenant=last.tenant, seq=99, counters=Counters(discovered=3, fetched=3)
    )
    doc = reduce_job(doc, cancelled)
    assert doc["status"] == JobStatus.CANCELLED
    assert doc["stop_reason"] == "cancelled"


def test_failed_job_carries_a_structured_error() -> None:
    first = history()[0]
    failed = CrawlFailed(
        job_id=first.job_id,
        tenant=first.tenant,
        seq=5,
        error_code="robots_unreachable",
        error="robots.txt answered 503",
    )
    doc = reduce_job(reduce_job(None, first), failed)
    assert doc["status"] == JobStatus.FAILED
    assert doc["error"] == {"code": "robots_unreachable", "message": "robots.txt answered 503"}


def test_document_written_by_the_api_is_completed_by_the_reducer() -> None:
    api_doc = {
        "_id": "job-1",
        "tenant": "acme",
        "status": "pending",
        "counters": {"discovered": 0},
        "created_at": T0,
        "request": None,
    }
    doc = fold(history(), api_doc)
    assert doc is not None
    assert doc == fold(history())


def test_page_document_is_keyed_by_job_and_url() -> None:
    pages = [m for m in history() if m.type == "PageRecorded"]
    ids = {page_document(p)["_id"] for p in pages}
    assert len(ids) == len(pages)
    assert all(i.startswith("job-1:") for i in ids)


RETENTION = timedelta(days=7)


def fold_kept(messages: list[Any]) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = None
    for message in messages:
        doc = reduce_job(doc, message, retention=RETENTION)
    return doc


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_shuffle_and_duplication_of_a_resumed_job_gives_the_same_document(
    data: st.DataObject,
) -> None:
    messages = resumed_history()
    expected = fold_kept(messages)
    extra = data.draw(st.lists(st.sampled_from(messages), max_size=len(messages)))
    shuffled = data.draw(st.permutations(messages + extra))
    assert fold_kept(shuffled) == expected


def test_a_stalled_job_reads_stalled_until_its_next_attempt_starts_then_completes() -> None:
    messages = resumed_history()
    stalled_at = next(i for i, m in enumerate(messages) if m.type == "CrawlStalled")
    doc = fold(messages[: stalled_at + 1])
    assert doc is not None
    assert doc["status"] == JobStatus.STALLED
    doc = fold(messages[: stalled_at + 2])  # the resume request names attempt 2
    assert doc is not None
    assert (doc["status"], doc["attempt"]) == (JobStatus.STALLED, 2)
    doc = fold(messages[: stalled_at + 3])  # attempt 2 started
    assert doc is not None
    assert (doc["status"], doc["worker_id"]) == (JobStatus.RUNNING, "w2")
    doc = fold_kept(messages)
    assert doc is not None
    assert (doc["status"], doc["attempt"]) == (JobStatus.COMPLETED, 2)
    assert doc["expires_at"] == doc["finished_at"] + RETENTION


def test_only_a_finished_job_expires() -> None:
    running = fold_kept(history()[:-1])
    assert running is not None
    assert running["expires_at"] is None
    done = fold_kept(history())
    assert done is not None
    assert done["expires_at"] == done["finished_at"] + RETENTION


@given(st.permutations(resumed_history()))
def test_a_terminal_status_is_never_left_whatever_arrives_after_it(messages: list[Any]) -> None:
    doc: dict[str, Any] | None = None
    finished = None
    for message in messages:
        doc = reduce_job(doc, message)
        if finished is None and doc["status"] in ("completed", "failed", "cancelled"):
            finished = doc["status"]
        if finished is not None:
            assert doc["status"] == finished


def test_lifecycle_events_stand_for_their_log_lines_keyed_by_their_own_order() -> None:
    messages = history()
    lines = [line for m in messages if (line := lifecycle_log(m)) is not None]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("info", "crawl started on worker w1"),
        ("info", "crawl finished (exhausted): 3 pages fetched"),
    ]
    started, completed = messages[1], messages[-1]
    assert [line["order"] for line in lines] == [
        started.ordering_key.number,
        completed.ordering_key.number,
    ]
    logged = [log_document(m) for m in messages if isinstance(m, CrawlLogged)]
    keys = [line["_id"] for line in lines + logged]
    assert len(set(keys)) == len(keys), "no log line shares a key with another"
    failed = CrawlFailed(
        job_id="job-1",
        tenant="acme",
        occurred_at=T0,
        seq=9,
        attempt=2,
        counters=Counters(),
        error_code="stalled",
        error="no heartbeat",
    )
    line = lifecycle_log(failed)
    assert line is not None
    assert (line["level"], line["message"]) == ("error", "crawl failed (stalled): no heartbeat")
    assert line["_id"] == "job-1:000002:000000000009"
    assert lifecycle_log(logged_message(messages)) is None


def logged_message(messages: list[Any]) -> Any:
    return next(m for m in messages if isinstance(m, CrawlLogged))
