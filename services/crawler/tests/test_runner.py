"""The job runner's handling of cancel broadcasts (no broker, no database: fakes)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from crawl_contracts import CrawlCancelled
from crawl_worker.lease import Claim, ClaimState, LeaseStore
from crawl_worker.resumable import ResumableCrawl
from crawl_worker.runner import JobRunner
from crawl_worker.settings import WorkerSettings


class FakeCrawl:
    def __init__(self, job_id: str) -> None:
        self.command = SimpleNamespace(job_id=job_id, tenant="t")
        self.abandoned = False
        self.cancelled = asyncio.Event()

    def cancel(self) -> None:
        self.cancelled.set()

    async def run(self) -> CrawlCancelled:
        await asyncio.wait_for(self.cancelled.wait(), 5)
        return CrawlCancelled(job_id=self.command.job_id, tenant="t")


class FakeLeases:
    def __init__(self) -> None:
        self.finished: list[str] = []

    async def finish(self, job_id: str, attempt: int) -> None:
        self.finished.append(job_id)


def runner(leases: FakeLeases) -> JobRunner:
    return JobRunner(
        WorkerSettings(), cast("LeaseStore", leases), lambda _: cast("Any", None), "worker"
    )


async def test_a_cancel_heard_before_the_crawl_registers_stops_it_when_it_does() -> None:
    leases = FakeLeases()
    jobs = runner(leases)
    jobs.cancel("job")  # heard while the claim was in flight: nothing runs yet
    await jobs.slots.acquire()
    crawl = FakeCrawl("job")
    await jobs._run(cast("ResumableCrawl", crawl), Claim(ClaimState.CLAIMED, 1))
    assert crawl.cancelled.is_set()
    assert leases.finished == ["job"]


async def test_a_cancel_stops_a_running_crawl_and_no_other() -> None:
    jobs = runner(FakeLeases())
    running, other = FakeCrawl("job"), FakeCrawl("other")
    jobs.running["job"] = cast("ResumableCrawl", running)
    jobs.running["other"] = cast("ResumableCrawl", other)
    jobs.cancel("job")
    assert running.cancelled.is_set()
    assert not other.cancelled.is_set()
