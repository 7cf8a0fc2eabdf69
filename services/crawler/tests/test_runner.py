"""The job runner with fake leases (no broker, no database): cancel broadcasts, commits of the
crawl's state, what it does when they fail, and the hand-back of its jobs when it stops."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any, cast

import httpx
import structlog
from pymongo.errors import AutoReconnect

from crawl_contracts import Counters, CrawlRequest, CrawlRequested, page_records
from crawl_contracts.envelope import utcnow
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.keeper import Keeper
from crawl_worker.lease import Claim, ClaimState, LeaseGate, LeaseStore
from crawl_worker.robots import RobotsCache
from crawl_worker.runner import Delivery, JobRunner
from crawl_worker.safety import AddressGuard
from crawl_worker.settings import WorkerSettings
from crawl_worker.state import CrawlState

from .fakes import Sink, extract
from .test_crawl import TEXT, handler


class FakeLeases:
    """Leases in memory; ``failing`` makes every commit raise, as an unreachable database."""

    def __init__(self, lease_seconds: float = 30) -> None:
        self.lease_seconds = lease_seconds
        self.finished: list[str] = []
        self.commits: list[tuple[int, dict[int, int]]] = []
        self.docs: list[dict[str, Any]] = []  # every piece stored, in order
        self.released: list[tuple[str, int]] = []
        self.failing = False
        self.lost = False

    async def claim(self, job_id: str, attempt: int, max_duration: float) -> Claim:
        until = utcnow() + timedelta(seconds=self.lease_seconds)
        return Claim(ClaimState.CLAIMED, attempt, {}, False, None, until)

    async def load(self, job_id: str, pieces: dict[int, int]) -> CrawlState:
        return CrawlState()

    async def commit(
        self, job_id: str, attempt: int, docs: list[dict[str, Any]], pieces: dict[int, int]
    ) -> dict[str, Any] | None:
        if self.failing:
            raise AutoReconnect("connection refused")
        if self.lost:
            return None
        self.commits.append((len(docs), dict(pieces)))
        self.docs.extend(docs)
        return {"_id": job_id, "attempt": attempt}

    async def finish(self, job_id: str, attempt: int) -> None:
        self.finished.append(job_id)

    async def release(self, job_id: str, attempt: int) -> bool:
        if self.failing:
            raise AutoReconnect("connection refused")
        self.released.append((job_id, attempt))
        return True

    def stored_counters(self) -> Counters:
        """The counters of the last commit stored (its last piece carries them)."""
        return Counters(**next(d["counters"] for d in reversed(self.docs) if d.get("counters")))


class Site:
    """The in-memory site, or with ``chain`` a chain of that many pages (each links to the
    next; one visit at a time); ``hold`` keeps every page but the first waiting; records
    when each request started, and which pages were asked for."""

    def __init__(self, chain: int = 0) -> None:
        self.hold = asyncio.Event()
        self.hold.set()
        self.started: list[float] = []
        self.paths: list[str] = []  # of the pages requested (not robots.txt nor the sitemap)
        self.chain = chain

    async def serve(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.started.append(asyncio.get_running_loop().time())
        if path in ("/robots.txt", "/sitemap.xml"):
            return handler(request)
        self.paths.append(path)
        if path != "/":
            await self.hold.wait()
            await asyncio.sleep(0.05)
        if self.chain:
            number = int(path.strip("/p") or 0)
            link = f"<a href='/p{number + 1}'>next</a>" if number < self.chain else ""
            body = f"<html><body><p>Page {number} {TEXT}</p>{link}</body></html>"
            return httpx.Response(
                200, headers={"content-type": "text/html"}, stream=httpx.ByteStream(body.encode())
            )
        return handler(request)


def site_ports(site: Site, sink: Any, fetch_timeout: float = 0.5) -> CrawlPorts:
    client = httpx.AsyncClient(transport=httpx.MockTransport(site.serve))
    limits = FetchLimits(total_timeout=fetch_timeout)
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), limits)
    return CrawlPorts(fetcher, RobotsCache(fetcher.fetch_text, "test-agent"), extract, sink)


def runner(
    leases: FakeLeases, site: Site, sink: Sink, *, fetch_timeout: float = 0.5, **settings: Any
) -> JobRunner:
    def ports(command: CrawlRequested) -> CrawlPorts:
        return site_ports(site, sink, fetch_timeout)

    return JobRunner(WorkerSettings(**settings), cast("LeaseStore", leases), ports, "worker")


def command(job_id: str = "job", max_depth: int = 3) -> CrawlRequested:
    request = CrawlRequest(url="http://127.0.0.1:9/", max_depth=max_depth)
    return CrawlRequested(job_id=job_id, tenant="t", request=request)


async def start(jobs: JobRunner, job: CrawlRequested) -> str:
    await jobs.slots.acquire()
    return await jobs.accept(job, redelivered=False)


async def until_ended(jobs: JobRunner, job_id: str) -> None:
    for _ in range(200):
        if job_id not in jobs.running:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{job_id} still runs")


async def test_a_cancel_heard_before_the_crawl_registers_stops_it_when_it_does() -> None:
    leases, sink = FakeLeases(), Sink()
    jobs = runner(leases, Site(), sink)
    jobs.cancel("job")  # heard while the claim was in flight: nothing runs yet
    assert await start(jobs, command()) == Delivery.ACK
    await until_ended(jobs, "job")
    await jobs.close()
    assert [e.type for e in sink.events if e.type.startswith("Crawl")][-1] == "CrawlCancelled"
    assert leases.finished == ["job"]


async def test_a_cancel_stops_a_running_crawl_and_no_other() -> None:
    site, sink = Site(), Sink()
    site.hold.clear()
    jobs = runner(FakeLeases(), site, sink)
    await start(jobs, command("job"))
    await start(jobs, command("other"))
    jobs.cancel("job")
    for _ in range(100):
        if "job" not in jobs.running:
            break
        await asyncio.sleep(0.01)
    assert set(jobs.running) == {"other"}
    site.hold.set()
    await jobs.close()


async def test_each_commit_names_its_pieces_and_is_followed_by_the_counters_it_stored() -> None:
    leases, site, sink = FakeLeases(), Site(), Sink()
    site.hold.clear()
    jobs = runner(leases, site, sink, checkpoint_interval=0.05)
    await start(jobs, command())
    await asyncio.sleep(0.3)
    site.hold.set()
    await asyncio.sleep(0.5)
    await jobs.close()
    assert leases.commits, "the state was committed while the crawl ran"
    counts = [pieces[1] for _, pieces in leases.commits]
    assert counts == sorted(counts)
    progressed = [e.counters for e in sink.events if e.type == "CrawlProgressed"]
    assert progressed
    fetched = [c.fetched for c in progressed]
    assert fetched == sorted(fetched)


async def test_failed_commits_are_logged_retried_and_pause_fetching_until_one_succeeds() -> None:
    # A lease of 2 s: no visit starts with less than 1.6 s of it left.
    leases, site, sink = FakeLeases(lease_seconds=2), Site(chain=40), Sink()
    jobs = runner(leases, site, sink, checkpoint_interval=0.05, lease_seconds=2, total_timeout=0.5)
    with structlog.testing.capture_logs() as logs:
        await start(jobs, command(max_depth=50))
        await asyncio.sleep(0.3)
        leases.failing = True
        loop = asyncio.get_running_loop()
        failing_since = loop.time()
        await asyncio.sleep(1.5)  # past the gate's margin, not past the lease
        requests_while_closed = [t for t in site.started if t > failing_since + 0.5]
        leases.failing = False
        for _ in range(100):
            if "job" not in jobs.running:
                break
            await asyncio.sleep(0.1)
        await jobs.close()
    failures = [e for e in logs if e["event"] == "crawl_state.commit_failed"]
    assert len(failures) >= 2, "each failure is logged and the commit retried"
    assert "AutoReconnect: connection refused" in failures[0]["error"]
    assert any(not e["fetching"] for e in failures), "fetching paused before the lease ran out"
    assert requests_while_closed == [], "no visit started with less than the margin left"
    assert any(e["event"] == "crawl_state.commit_recovered" for e in logs)
    assert "job" not in jobs.running
    assert [e.type for e in sink.events][-1] == "CrawlCompleted"
    assert sink.events[-1].counters.fetched == 41, "the crawl went on once the commit succeeded"


async def test_a_lease_that_runs_out_is_given_up_and_the_crawl_says_nothing_more() -> None:
    leases, site, sink = FakeLeases(lease_seconds=1), Site(), Sink()
    site.hold.clear()
    jobs = runner(leases, site, sink, checkpoint_interval=0.05, lease_seconds=1, total_timeout=0.2)
    with structlog.testing.capture_logs() as logs:
        await start(jobs, command())
        leases.failing = True
        await asyncio.sleep(1.5)
        site.hold.set()
        await jobs.close()
    assert any(e["event"] == "lease.expired" for e in logs)
    assert any(e["event"] == "crawl.abandoned" for e in logs)
    assert not [e for e in sink.events if e.type in ("CrawlCompleted", "CrawlCancelled")]
    assert leases.finished == []


# -- hand-back (the process is stopping) -----------------------------------------------------


def recorded(events: list[Any]) -> dict[str, tuple[str, str | None]]:
    return {e.url: (e.outcome.value, e.reason) for e in page_records(events)}


async def resumed_from(leases: FakeLeases, site: Site, sink: Sink, job: CrawlRequested) -> Any:
    """Attempt 2 of ``job``, from every piece the leases stored, run to its end."""
    state = CrawlState.restore(leases.docs)
    crawl = Crawl(job, site_ports(site, sink), worker_id="other", attempt=2, state=state)
    return await crawl.run()


async def test_a_stopping_runner_hands_its_crawl_back_after_a_last_commit() -> None:
    leases, site, sink = FakeLeases(), Site(chain=20), Sink()
    site.hold.clear()  # every page but the first hangs: a visit is in flight at the stop
    jobs = runner(leases, site, sink, checkpoint_interval=0.05, fetch_timeout=30)
    job = command(max_depth=50)
    await start(jobs, job)
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    await jobs.hand_back(1.0)
    took = loop.time() - stopped_at

    assert 0.4 < took < 1.0, "the visit in flight had half the grace, then was stopped"
    assert jobs.running == {}
    assert [e.type for e in sink.events][-1] == "CrawlReleased"
    assert not [e for e in sink.events if e.type in ("CrawlCompleted", "CrawlCancelled")]
    released = sink.events[-1]
    assert (released.worker_id, released.reason, released.attempt) == ("worker", "shutdown", 1)
    assert released.counters == leases.stored_counters(), "the counters of the last commit"
    c = released.counters
    assert (c.fetched, c.in_flight, c.queued) == (1, 0, 1), "the stopped visit stays queued"
    assert leases.released == [("job", 1)]
    assert leases.finished == []
    assert site.paths == ["/", "/p1"], "no visit started after the stop"

    # The next attempt resumes from that commit: the stopped page is visited once, by it.
    second = Sink()
    terminal = await resumed_from(leases, Site(chain=20), second, job)
    assert terminal is not None
    assert terminal.type == "CrawlCompleted"
    first_urls, second_urls = set(recorded(sink.events)), set(recorded(second.events))
    assert first_urls.isdisjoint(second_urls), "no URL recorded by both attempts"
    assert len(first_urls | second_urls) == 21
    assert terminal.counters.fetched == 21


async def test_visits_in_flight_at_the_stop_end_and_are_recorded_before_the_hand_back() -> None:
    leases, site, sink = FakeLeases(), Site(chain=20), Sink()  # 50 ms a page, one at a time
    jobs = runner(leases, site, sink, checkpoint_interval=0.05)
    job = command(max_depth=50)
    await start(jobs, job)
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    await jobs.hand_back(2.0)

    assert loop.time() - stopped_at < 0.5, "no wait once the visit in flight ended"
    released = sink.events[-1]
    assert released.type == "CrawlReleased"
    assert released.counters.in_flight == 0
    first = recorded(sink.events)
    assert len(first) == len(site.paths) == released.counters.fetched, (
        "every visit started was recorded, and none started after the stop"
    )
    second = Sink()
    terminal = await resumed_from(leases, Site(chain=20), second, job)
    assert terminal is not None
    assert set(first).isdisjoint(recorded(second.events))
    assert terminal.counters.fetched == 21


async def test_a_hand_back_whose_commit_fails_is_given_up_within_the_grace() -> None:
    leases, site, sink = FakeLeases(), Site(chain=20), Sink()
    site.hold.clear()
    jobs = runner(leases, site, sink, checkpoint_interval=0.05, fetch_timeout=30)
    await start(jobs, command(max_depth=50))
    await asyncio.sleep(0.3)
    leases.failing = True  # the database is gone
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    with structlog.testing.capture_logs() as logs:
        await jobs.hand_back(1.0)
        await jobs.close()
    assert loop.time() - stopped_at < 1.3
    failed = [e for e in logs if e["event"] == "crawl.hand_back_failed"]
    assert failed, "the failure is logged"
    assert any(e["event"] == "crawl_state.commit_failed" for e in logs), "with its cause"
    assert not [e for e in sink.events if e.type in ("CrawlReleased", "CrawlCompleted")]
    assert leases.released == []  # the lease runs out; the stall detector resumes the job


async def test_a_stopping_runner_takes_no_new_job() -> None:
    leases, site, sink = FakeLeases(), Site(), Sink()
    jobs = runner(leases, site, sink, max_jobs=1)
    site.hold.clear()
    await start(jobs, command("busy"))
    waiting = asyncio.create_task(jobs.take_slot(30))  # every slot is taken
    await asyncio.sleep(0.05)
    await jobs.hand_back(1.0)
    assert await asyncio.wait_for(waiting, 0.1) is False, "the wait ends with the stop"
    assert await jobs.take_slot(30) is False
    await jobs.slots.acquire()  # the hand-back gave the slot back
    assert await jobs.accept(command("new"), redelivered=False) == Delivery.REQUEUE
    assert "new" not in jobs.running


class GatedSink(Sink):
    """Confirms an event only while ``open`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()
        self.open.set()

    async def emit(self, event: Any) -> None:
        await self.open.wait()
        await super().emit(event)


async def test_a_commit_cut_short_by_the_stop_is_stored_before_the_last_one() -> None:
    leases, site, sink = FakeLeases(), Site(chain=20), GatedSink()
    job = command(max_depth=50)
    crawl = Crawl(job, site_ports(site, sink), worker_id="worker")
    settings = WorkerSettings(checkpoint_interval=0.01)
    gate = LeaseGate(time.monotonic() + 60, 1.0)
    keeper = Keeper(crawl, cast("LeaseStore", leases), gate, settings, attempt=1, pieces={})
    crawling = asyncio.create_task(crawl.run())
    await asyncio.sleep(0.2)  # a few pages recorded and confirmed
    sink.open.clear()  # the broker confirms nothing for a while
    keeping = asyncio.create_task(keeper.run())
    await asyncio.sleep(0.1)  # its cut waits for the confirmation of the records it counts
    keeping.cancel()  # as the runner does once the crawl stopped
    await asyncio.gather(keeping, return_exceptions=True)
    crawl.hand_back(0.0)
    assert await crawling is None
    sink.open.set()

    counters = await asyncio.wait_for(keeper.commit_last(), 2)
    assert counters is not None
    assert len(leases.commits) == 2, "the cut run() was busy with, then the last one"
    assert counters == leases.stored_counters()
    first = recorded(sink.events)
    assert counters.fetched == len(first) > 2
    second = Sink()
    terminal = await resumed_from(leases, Site(chain=20), second, job)
    assert terminal is not None
    assert set(first).isdisjoint(recorded(second.events)), "nothing the cut held was lost"
    assert terminal.counters.fetched == 21
