"""Commits of a crawl's state and resumption from them, against the in-memory site."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from crawl_contracts import Counters, CrawlRequest, CrawlRequested, page_records
from crawl_contracts.envelope import utcnow
from crawl_schema import OUTCOME_COUNTERS
from crawl_schema.state import state_pieces
from crawl_worker import crawl as crawl_module
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.robots import RobotsCache
from crawl_worker.safety import AddressGuard
from crawl_worker.state import Commit, CrawlState

from .fakes import extract
from .test_crawl import handler


class DyingSink:
    """Confirms events until it "dies" ``after_cut`` events after the message that brings
    the page records it saw to ``cut_at`` or more, where it cuts the crawl's journal; from
    then on it confirms nothing, as a killed process publishes nothing (a commit waiting on
    those events is never stored)."""

    def __init__(self, cut_at: int | None = None, after_cut: int = 0) -> None:
        self.events: list[Any] = []
        self.crawl: Crawl | None = None
        self.commit: Commit | None = None
        self._cut_at = cut_at
        self._left = after_cut
        self.dead = asyncio.Event()

    async def emit(self, event: Any) -> None:
        if self.dead.is_set():
            await asyncio.Event().wait()  # never confirmed
        await asyncio.sleep(0)
        self.events.append(event)
        if self.commit is not None:
            if self._left == 0:
                self.dead.set()
                assert self.crawl is not None
                self.crawl.abandon()
            self._left -= 1
        elif event.type in ("PageRecorded", "PagesRecorded") and self._cut_at is not None:
            pages = sum(len(getattr(e, "pages", [e])) for e in self.events if "Page" in e.type)
            if pages >= self._cut_at:
                assert self.crawl is not None
                self.commit = self.crawl.cut()


def make(
    sink: Any,
    *,
    state: CrawlState | None = None,
    attempt: int = 1,
    deadline: float | None = None,
    transport: Any = None,
    max_pages: int = 100,
    record_batch: int = 1,
) -> Crawl:
    client = httpx.AsyncClient(transport=transport or httpx.MockTransport(handler))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
    request = CrawlRequest(url="http://127.0.0.1:9/", max_depth=3, max_pages=max_pages)
    command = CrawlRequested(job_id="j", tenant="t", request=request)
    crawl = Crawl(
        command,
        CrawlPorts(fetcher, RobotsCache(fetcher.fetch_text, "test-agent"), extract, sink),
        worker_id="w",
        concurrency=2,
        record_batch=record_batch,
        attempt=attempt,
        state=state,
        deadline=deadline,
    )
    if isinstance(sink, DyingSink):
        sink.crawl = crawl
    return crawl


async def stored(commit: Commit, within: float = 1.0) -> list[dict[str, Any]] | None:
    """The commit's pieces once its events are confirmed; ``None`` if they never are (an
    event of an abandoned crawl is never published: its confirmation fails)."""
    try:
        await asyncio.wait_for(commit.confirmed(), within)
    except (TimeoutError, crawl_module._AbandonedError):
        return None
    return state_pieces("j", 1, 0, commit.delta, utcnow())


def ledger(events: list[Any]) -> dict[str, tuple[str, str | None]]:
    return {e.url: (e.outcome.value, e.reason) for e in page_records(events)}


def add_up(c: Counters) -> bool:
    return c.discovered == c.queued + c.in_flight + c.fetched + c.failed + c.skipped


@pytest.mark.parametrize("cut_at", [1, 3, 6])
@pytest.mark.parametrize("after_cut", [0, 1, 3])
@pytest.mark.parametrize("record_batch", [1, 3])  # 3: records in batches, 1: each alone
async def test_a_crawl_resumed_from_any_commit_gives_the_uninterrupted_ledger(
    cut_at: int, after_cut: int, record_batch: int
) -> None:
    reference = DyingSink()
    expected = await make(reference).run()
    assert expected is not None

    first = DyingSink(cut_at, after_cut)
    ended = await make(first, record_batch=record_batch).run()
    assert ended is not None
    assert first.commit is not None
    if not first.dead.is_set():  # fewer than after_cut messages followed the cut: it finished
        assert ended.type == "CrawlCompleted"
        assert ledger(first.events) == ledger(reference.events)
        return
    pieces = await stored(first.commit)
    state = CrawlState.restore(pieces or [])
    if pieces is None:  # its events never all reached the broker: nothing was committed
        assert state.counters["fetched"] == 0

    second = DyingSink()
    resumed = await make(second, state=state, attempt=2).run()
    assert resumed is not None

    combined = {**ledger(first.events), **ledger(second.events)}
    assert combined == ledger(reference.events)
    assert resumed.type == "CrawlCompleted"
    assert resumed.counters == expected.counters
    assert all(add_up(e.counters) for e in second.events if hasattr(e, "counters"))
    # What was committed is never counted down: the resumed attempt starts from it.
    published = first.commit.published
    for event in second.events:
        if hasattr(event, "counters") and pieces is not None:
            for name in OUTCOME_COUNTERS:
                assert getattr(event.counters, name) >= getattr(published, name)
    # Resumed, not restarted: no URL done before the commit is visited again.
    if pieces is not None:
        done = {u for p in pieces for u in p["done"]}
        from crawl_schema.keys import url_hash  # noqa: PLC0415

        again = {url for url in ledger(second.events) if url_hash(url) in done}
        assert not again
        if cut_at >= 3:
            assert done


async def test_a_cut_stores_what_a_resumed_attempt_needs_and_nothing_in_flight() -> None:
    sink = DyingSink(cut_at=2, after_cut=10**6)
    await make(sink).run()
    assert sink.commit is not None
    pieces = await stored(sink.commit)
    assert pieces is not None
    counts = pieces[-1]["counters"]
    assert counts["in_flight"] == 0
    assert counts["discovered"] == sum(
        counts[k] for k in ("queued", "in_flight", "fetched", "failed", "skipped")
    )
    state = CrawlState.restore(pieces)
    assert len(state.frontier) == counts["queued"]
    assert state.counters == counts
    assert add_up(sink.commit.published)


@pytest.mark.parametrize("max_pages", [100, 2])  # 2: the rest of the frontier is page_limit
async def test_cuts_taken_at_every_event_always_restore_a_consistent_state(max_pages: int) -> None:
    cuts: list[Commit] = []

    class Cutting(DyingSink):
        async def emit(self, event: Any) -> None:
            await super().emit(event)
            assert self.crawl is not None
            cuts.append(self.crawl.cut())

    await make(Cutting(), max_pages=max_pages).run()
    pieces: list[dict[str, Any]] = []
    for commit in cuts:
        more = await stored(commit)
        assert more is not None
        pieces += [{**p, "_id": f"{len(pieces) + i}"} for i, p in enumerate(more)]
        state = CrawlState.restore(pieces)
        assert len(state.frontier) == state.counters["queued"]
        assert add_up(Counters(**state.counters))


async def test_the_time_limit_ends_the_crawl_as_completed_with_time_limit() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.1)
        return handler(request)

    sink = DyingSink()
    crawl = make(sink, deadline=time.monotonic() + 0.15, transport=httpx.MockTransport(slow))
    terminal = await asyncio.wait_for(crawl.run(), 5)
    assert terminal is not None
    assert terminal.type == "CrawlCompleted"
    assert terminal.stop_reason.value == "time_limit"
    assert add_up(terminal.counters)
    assert terminal.counters.queued == terminal.counters.in_flight == 0
    assert [e.type for e in sink.events].count("CrawlCompleted") == 1


async def test_an_abandoned_crawl_says_nothing_more() -> None:
    sink = DyingSink(cut_at=1, after_cut=0)
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
    assert terminal is not None

    assert terminal.type == "CrawlCancelled"
    types = [e.type for e in sink.events]
    assert types.count("CrawlCancelled") == 1
    after = sink.events[types.index("CrawlCancelled") + 1 :]
    assert {e.reason for e in after if e.type == "PageRecorded"} == {"cancelled"}
    assert len(ledger(sink.events)) == terminal.counters.discovered
    assert add_up(terminal.counters)
    assert terminal.counters.queued == terminal.counters.in_flight == 0


async def test_a_closed_gate_holds_every_visit_until_it_opens() -> None:
    class Gate:
        def __init__(self) -> None:
            self.opened = asyncio.Event()

        async def wait(self) -> None:
            await self.opened.wait()

    gate = Gate()
    sink = DyingSink()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
    command = CrawlRequested(
        job_id="j", tenant="t", request=CrawlRequest(url="http://127.0.0.1:9/")
    )
    crawl = Crawl(
        command,
        CrawlPorts(fetcher, RobotsCache(fetcher.fetch_text, "test-agent"), extract, sink),
        worker_id="w",
        gate=gate,
    )
    task = asyncio.create_task(crawl.run())
    await asyncio.sleep(0.2)
    assert [e.type for e in sink.events] == ["CrawlStarted"]
    assert crawl.counters.in_flight == 1  # taken, not visited
    assert crawl.cut().delta.counters["queued"] == 1  # as a resumed attempt would find it
    gate.opened.set()
    terminal = await asyncio.wait_for(task, 5)
    assert terminal is not None
    assert terminal.counters.fetched > 1
