"""The job runner with fake leases (no broker, no database): cancel broadcasts, commits of the
crawl's state, and what it does when they fail."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import httpx
import structlog
from pymongo.errors import AutoReconnect

from crawl_contracts import CrawlRequest, CrawlRequested
from crawl_contracts.envelope import utcnow
from crawl_worker.crawl import CrawlPorts
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.lease import Claim, ClaimState, LeaseStore
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
        return {"_id": job_id, "attempt": attempt}

    async def finish(self, job_id: str, attempt: int) -> None:
        self.finished.append(job_id)


class Site:
    """The in-memory site, or with ``chain`` a chain of that many pages (each links to the
    next; one visit at a time); ``hold`` keeps every page but the first waiting; records
    when each request started."""

    def __init__(self, chain: int = 0) -> None:
        self.hold = asyncio.Event()
        self.hold.set()
        self.started: list[float] = []
        self.chain = chain

    async def serve(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.started.append(asyncio.get_running_loop().time())
        if path not in ("/", "/robots.txt"):
            await self.hold.wait()
            await asyncio.sleep(0.05)
        if self.chain and path != "/robots.txt":
            number = int(path.strip("/p") or 0)
            link = f"<a href='/p{number + 1}'>next</a>" if number < self.chain else ""
            body = f"<html><body><p>Page {number} {TEXT}</p>{link}</body></html>"
            return httpx.Response(
                200, headers={"content-type": "text/html"}, stream=httpx.ByteStream(body.encode())
            )
        return handler(request)


def runner(leases: FakeLeases, site: Site, sink: Sink, **settings: Any) -> JobRunner:
    def ports(command: CrawlRequested) -> CrawlPorts:
        client = httpx.AsyncClient(transport=httpx.MockTransport(site.serve))
        fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits(total_timeout=0.5))
        return CrawlPorts(fetcher, RobotsCache(fetcher.fetch_text, "test-agent"), extract, sink)

    return JobRunner(WorkerSettings(**settings), cast("LeaseStore", leases), ports, "worker")


def command(job_id: str = "job", max_depth: int = 3) -> CrawlRequested:
    request = CrawlRequest(url="http://127.0.0.1:9/", max_depth=max_depth)
    return CrawlRequested(job_id=job_id, tenant="t", request=request)


async def start(jobs: JobRunner, job: CrawlRequested) -> str:
    await jobs.slots.acquire()
    return await jobs.accept(job, redelivered=False)


async def test_a_cancel_heard_before_the_crawl_registers_stops_it_when_it_does() -> None:
    leases, sink = FakeLeases(), Sink()
    jobs = runner(leases, Site(), sink)
    jobs.cancel("job")  # heard while the claim was in flight: nothing runs yet
    assert await start(jobs, command()) == Delivery.ACK
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
