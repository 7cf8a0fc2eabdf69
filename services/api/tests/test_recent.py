"""The recently-read job documents: served until a notice, a timeout or a feed outage."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from bson import encode

from crawl_api.changes import ChangeFeed
from crawl_api.recent import RecentJobs
from crawl_contracts import JobChanged


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_document_is_served_until_its_time_runs_out() -> None:
    clock = Clock()
    recent = RecentJobs(1.0, clock=clock)
    recent.put("a", {"_id": "a", "version": 1}, recent.token())
    clock.now += 0.9
    assert recent.get("a") == {"_id": "a", "version": 1}
    clock.now += 0.1
    assert recent.get("a") is None


def test_a_notice_drops_its_job_only() -> None:
    recent = RecentJobs(60)
    recent.put("a", {"_id": "a"}, recent.token())
    recent.put("b", {"_id": "b"}, recent.token())
    recent.drop("a")
    assert recent.get("a") is None
    assert recent.get("b") == {"_id": "b"}


def test_a_read_overtaken_by_a_notice_is_not_kept() -> None:
    recent = RecentJobs(60)
    token = recent.token()  # the read starts
    recent.drop("a")  # a notice arrives while it is in flight
    recent.put("a", {"_id": "a", "version": 1}, token)  # the read returns, maybe stale
    assert recent.get("a") is None
    recent.put("a", {"_id": "a", "version": 2}, recent.token())
    assert recent.get("a") == {"_id": "a", "version": 2}


def test_nothing_is_served_while_the_feed_is_down() -> None:
    live = True
    recent = RecentJobs(60, live=lambda: live)
    recent.put("a", {"_id": "a"}, recent.token())
    live = False
    assert recent.get("a") is None
    recent.put("a", {"_id": "a"}, recent.token())
    live = True
    assert recent.get("a") is None, "kept while no notice could have dropped it"


def test_zero_seconds_keeps_nothing_and_the_oldest_go_first() -> None:
    off = RecentJobs(0)
    off.put("a", {"_id": "a"}, off.token())
    assert off.get("a") is None
    small = RecentJobs(60, max_entries=2)
    for job in ("a", "b", "c"):
        small.put(job, {"_id": job}, small.token())
    assert small.get("a") is None
    assert small.get("b") is not None
    assert small.get("c") is not None


def test_a_notice_keeps_its_document_but_never_over_a_newer_one() -> None:
    recent = RecentJobs(60)
    recent.put("a", {"_id": "a", "version": 1}, recent.token())
    token = recent.token()  # a read in flight
    recent.noticed("a", {"_id": "a", "version": 3})
    assert recent.get("a") == {"_id": "a", "version": 3}
    recent.noticed("a", {"_id": "a", "version": 2})  # late: an older write
    assert recent.get("a") == {"_id": "a", "version": 3}
    recent.put("a", {"_id": "a", "version": 1}, token)  # the read returns, older
    assert recent.get("a") == {"_id": "a", "version": 3}
    recent.noticed("a", None)  # a notice without its document
    assert recent.get("a") is None


async def test_the_change_feed_hands_the_notices_document_over_before_waking_waiters() -> None:
    feed = ChangeFeed("amqp://unused/")
    recent = RecentJobs(60)
    feed.listen(recent.noticed)
    written = {"_id": "a", "tenant": "t", "version": 2, "at": datetime(2026, 1, 1, tzinfo=UTC)}
    change = JobChanged(job_id="a", version=2, document=base64.b64encode(encode(written)).decode())
    recent.put("a", {"_id": "a", "tenant": "t", "version": 1}, recent.token())
    with feed.watch("a") as watch:
        feed.receive(change.model_dump_json().encode())
        assert recent.get("a") == written
        assert await watch.wait(0.01)
    stray = JobChanged(job_id="b", document=base64.b64encode(encode(written)).decode())
    recent.put("b", {"_id": "b", "version": 1}, recent.token())
    feed.receive(stray.model_dump_json().encode())
    assert recent.get("b") is None, "a document of another job only drops the job"


def test_a_late_notice_never_brings_back_a_version_older_than_one_read() -> None:
    recent = RecentJobs(60)
    token = recent.token()  # a read of job "a" starts
    recent.noticed("b", {"_id": "b", "version": 1})  # any notice meanwhile: the read's
    recent.put("a", {"_id": "a", "version": 7}, token)  # result is not kept, but noted
    assert recent.get("a") is None
    recent.noticed("a", {"_id": "a", "version": 6})  # late: sent before version 7
    assert recent.get("a") is None
    recent.noticed("a", {"_id": "a", "version": 8})
    assert recent.get("a") == {"_id": "a", "version": 8}


def test_everything_is_forgotten_when_the_feed_comes_back_after_an_outage() -> None:
    feed = ChangeFeed("amqp://unused/")
    recent = RecentJobs(60)
    feed.on_reconnect(recent.clear)
    recent.put("a", {"_id": "a", "version": 1}, recent.token())
    feed.reconnected()
    assert recent.get("a") is None
