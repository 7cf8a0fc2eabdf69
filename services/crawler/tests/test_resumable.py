"""Checkpoints, resumption and the time limit of a crawl, against the in-memory site."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from crawl_contracts import CrawlRequest, CrawlRequested, page_records
from crawl_worker.crawl import CrawlPorts
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.resumable import ResumableCrawl
from crawl_worker.robots import RobotsCache
from crawl_worker.safety import AddressGuard

from .test_crawl import extract, handler


class DyingSink:
    """Accepts events until it "dies" ``after_snapshot`` events after the ``snapshot_at``-th
    page: then it takes no more, as a killed process publishes nothing."""

    def __init__(self, snapshot_at: int | None = None, after_snapshot: int = 0) -> None:
        self.events: list[Any] = []
        self.crawl: ResumableCrawl | None = None
        self.snapshot: dict[str, Any] | None = None
        self._snapshot_at = snapshot_at
        self._left = after_snapshot
        self.dead = False

    async def emit(self, event: Any) -> None:
        if self.dead:
            return
        await asyncio.sleep(0)
        self.events.append(event)
        if self.snapshot is not None:
            if self._left == 0:
                self.dead = True
                assert self.crawl is not None
                self.crawl.abandon()
            self._left -= 1
        elif event.type == "PageRecorded" and self._snapshot_at is not None:
            pages = sum(1 for e in self.events if e.type == "PageRecorded")
            if pages == self._snapshot_at:
                assert self.crawl is not None
                self.snapshot = self.crawl.snapshot()


def make(
    sink: Any,
    *,
    checkpoint: dict[str, Any] | None = None,
    attempt: int = 1,
    deadline: float | None = None,
    transport: Any = None,
) -> ResumableCrawl:
    client = httpx.AsyncClient(transport=transport or httpx.MockTransport(handler))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
    command = CrawlRequested(
        job_id="j", tenant="t", request=CrawlRequest(url="http://127.0.0.1:9/", max_depth=3)
    )
    crawl = ResumableCrawl(
        command,
        CrawlPorts(fetcher, RobotsCache(fetcher.fetch_text, "test-agent"), extract, sink),
        worker_id="w",
        concurrency=2,
        attempt=attempt,
        checkpoint=checkpoint,
        deadline=deadline,
    )
    if isinstance(sink, DyingSink):
        sink.crawl = crawl
    return crawl


def ledger(events: list[Any]) -> dict[str, tuple[str, str | None]]:
    return {e.url: (e.outcome.value, e.reason) for e in page_records(events)}


def add_up(counters: Any) -> bool:
    c = counters
    return bool(c.discovered == c.queued + c.in_flight + c.fetched + c.failed + c.skipped)


@pytest.mark.parametrize("snapshot_at", [1, 3, 6])
@pytest.mark.parametrize("after_snapshot", [0, 2])
async def test_a_crawl_resumed_from_any_checkpoint_gives_the_uninterrupted_ledger(
    snapshot_at: int, after_snapshot: int
) -> None:
    reference = DyingSink()
    expected = await make(reference).run()

    first = DyingSink(snapshot_at, after_snapshot)
    await make(first).run()
    assert first.snapshot is not None
    assert first.dead

    second = DyingSink()
    resumed = await make(second, checkpoint=first.snapshot, attempt=2).run()

    combined = {**ledger(first.events), **ledger(second.events)}
    assert combined == ledger(reference.events)
    assert resumed.type == "CrawlCompleted"
    assert resumed.counters == expected.counters
    assert all(add_up(e.counters) for e in second.events if hasattr(e, "counters"))
    # Resumed, not restarted: nothing settled before the checkpoint is visited again (the
    # skips batched but not yet sent travel in the checkpoint and are sent by the resumed one).
    carried = {s["url"] for s in first.snapshot["skips"]}
    settled = set(first.snapshot["seen"]) - {u["url"] for u in first.snapshot["frontier"]}
    settled -= carried
    assert carried <= set(ledger(second.events))
    assert not settled & set(ledger(second.events))
    if snapshot_at >= 3:
        assert settled


async def test_a_snapshot_keeps_the_counters_adding_up_with_nothing_in_flight() -> None:
    sink = DyingSink(snapshot_at=2)
    await make(sink).run()
    assert sink.snapshot is not None
    counts = sink.snapshot["counters"]
    assert counts["in_flight"] == 0
    assert counts["discovered"] == sum(
        counts[k] for k in ("queued", "in_flight", "fetched", "failed", "skipped")
    )
    assert len(sink.snapshot["frontier"]) == counts["queued"]


async def test_the_time_limit_ends_the_crawl_as_completed_with_time_limit() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.1)
        return handler(request)

    sink = DyingSink()
    crawl = make(sink, deadline=time.monotonic() + 0.15, transport=httpx.MockTransport(slow))
    terminal = await asyncio.wait_for(crawl.run(), 5)
    assert terminal.type == "CrawlCompleted"
    assert terminal.stop_reason.value == "time_limit"
    assert add_up(terminal.counters)
    assert terminal.counters.queued == terminal.counters.in_flight == 0
    assert [e.type for e in sink.events].count("CrawlCompleted") == 1


async def test_an_abandoned_crawl_says_nothing_more() -> None:
    sink = DyingSink(snapshot_at=1, after_snapshot=0)
    await make(sink).run()
    terminals = [e for e in sink.events if e.type in ("CrawlCompleted", "CrawlCancelled")]
    assert terminals == []


async def test_a_cancel_sends_its_terminal_event_first_then_every_unvisited_url() -> None:
    release = asyncio.Event()

    async def stuck(request: httpx.Request) -> httpx.Response:
        if request.url.path not in ("/", "/robots.txt"):
            await release.wait()
        return handler(request)

    sink = DyingSink()
    crawl = make(sink, transport=httpx.MockTransport(stuck))
    task = asyncio.create_task(crawl.run())
    for _ in range(200):  # until the start page is recorded and its links are queued
        if any(e.type == "PageRecorded" for e in sink.events):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    crawl.cancel()
    terminal = await asyncio.wait_for(task, 2)

    assert terminal.type == "CrawlCancelled"
    types = [e.type for e in sink.events]
    assert types.count("CrawlCancelled") == 1
    after = sink.events[types.index("CrawlCancelled") + 1 :]
    assert {e.reason for e in after if e.type == "PageRecorded"} == {"cancelled"}
    assert len(ledger(sink.events)) == terminal.counters.discovered
    assert add_up(terminal.counters)
    assert terminal.counters.queued == terminal.counters.in_flight == 0
