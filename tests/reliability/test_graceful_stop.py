"""A graceful stop (SIGTERM) of the crawler running a job, as a Kubernetes scale-in, node drain
or rollout does: the crawler hands the job back before it exits (a last commit, its lease
released, ``CrawlReleased``), and the other crawler resumes it within seconds, not after the
stall timeout. The job is neither cancelled nor failed, nor declared stalled, and completes
with the page ledger of an uninterrupted crawl, no URL recorded by both attempts. deploy/k8s
scales crawlers down on this promise."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from crawl_stack import Services, Stack, running_stack
from tests.reliability.support import (
    TERMINAL_EVENTS,
    EventProbe,
    eventually,
    ledger,
    private_logs,
    reference_ledger,
    running_past,
    wait_status,
)
from tests.sites.serve import SAMPLE_URLS

pytestmark = pytest.mark.e2e

STOP_GRACE = 10.0  # CRAWL_WORKER_STOP_GRACE's default
ENV = {
    "CRAWL_WORKER_CONCURRENCY": "2",
    # As deployed: a stopped crawler's job must not wait for either of these.
    "CRAWL_WORKER_LEASE_SECONDS": "30",
    "CRAWL_STATUS_STALL_AFTER": "60",
    "CRAWL_STATUS_STALL_SCAN_INTERVAL": "0.5",
    "CRAWL_STATUS_MAX_ATTEMPTS": "3",
}
FINISHED = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(
        services, workers=2, extra_env=ENV, logs=private_logs("graceful")
    ) as running:
        yield running


async def test_a_crawler_stopped_gracefully_hands_its_job_back_to_be_resumed_at_once(
    stack: Stack,
    site: str,
    client: httpx.AsyncClient,
    probe: EventProbe,
    mongo: AsyncMongoClient[dict[str, Any]],
    services: Services,
) -> None:
    request = {"url": site, "max_pages": 100, "max_depth": 3}
    expected = await reference_ledger(client, request)
    assert sum(1 for outcome in expected.values() if outcome == "fetched") == SAMPLE_URLS

    created = await client.post("/api/v1/crawls", json=request)
    location, job_id = created.headers["Location"], created.json()["id"]
    doc = await running_past(mongo[services.database].crawls, job_id)
    stopped_worker = doc["worker_id"]
    stopped = {"e2e-crawler-0": "crawler-0", "e2e-crawler-1": "crawler-1"}[stopped_worker]
    process = stack.processes.pop(stopped)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)  # to the crawler alone, as the kubelet sends it
    exiting = asyncio.ensure_future(asyncio.to_thread(process.wait, 60))

    seen: dict[str, float] = {}

    async def resumed() -> bool:
        for event in await probe.of(job_id):
            what = f"{event['type']}:{event['attempt']}"
            seen.setdefault(what, time.monotonic() - sent)
        return "CrawlStarted:2" in seen

    await eventually(resumed, within=10, every=0.05)
    code = await exiting
    exited = time.monotonic() - sent
    assert code == 0, f"the crawler exited with {code}"
    assert exited < STOP_GRACE, f"the crawler took {exited:.1f} s to stop"

    job = await wait_status(client, location, FINISHED, within=120)
    assert job["status"] == "completed", job
    assert job["stop_reason"] == "exhausted"
    assert job["attempt"] == 2
    assert await ledger(client, location) == expected
    counters = job["counters"]
    assert counters["fetched"] == SAMPLE_URLS
    assert counters["queued"] == counters["in_flight"] == 0

    events = await probe.of(job_id)
    types = [e["type"] for e in events]
    assert "CrawlStalled" not in types
    [released] = [e for e in events if e["type"] == "CrawlReleased"]
    assert (released["attempt"], released["worker_id"]) == (1, stopped_worker)
    assert released["reason"] == "shutdown"
    assert released["counters"]["in_flight"] == 0
    [resume] = [e for e in events if e["type"] == "CrawlResumeRequested"]
    assert resume["attempt"] == 2
    started = [(e["attempt"], e["worker_id"]) for e in events if e["type"] == "CrawlStarted"]
    assert started[0][0] == 1
    assert started[1][0] == 2
    assert started[1][1] != stopped_worker
    terminals = [e for e in events if e["type"] in TERMINAL_EVENTS]
    assert [(t["type"], t["attempt"]) for t in terminals] == [("CrawlCompleted", 2)]
    # Page records, whether sent alone or in a batch (PagesRecorded): the last commit held
    # every record of attempt 1, so attempt 2 recorded only the rest.
    records = [r for e in events for r in e.get("pages") or [e] if r["type"] == "PageRecorded"]
    skipped = [
        {"url": u["url"], "attempt": e["attempt"]}
        for e in events
        if e["type"] == "UrlsSkipped"
        for u in e["urls"]
    ]
    by_attempt = [
        {r["url"] for r in [*records, *skipped] if r["attempt"] == attempt} for attempt in (1, 2)
    ]
    assert by_attempt[0]
    assert by_attempt[1]
    assert by_attempt[0].isdisjoint(by_attempt[1]), "no URL recorded by both attempts"
    assert by_attempt[0] | by_attempt[1] == set(expected)
    print(  # the measured hand-back, shown with -s
        f"\nhand-back: CrawlReleased {seen.get('CrawlReleased:1', -1):.2f} s, "
        f"CrawlStarted (attempt 2) {seen['CrawlStarted:2']:.2f} s, "
        f"crawler exited {exited:.2f} s after SIGTERM"
    )
