"""kill -9 of the crawler running a job, with a second crawler up: the job is declared stalled,
resumed from its checkpoint by the other crawler, and completes with the same page ledger as an
uninterrupted crawl of the same site."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from crawl_stack import Services, Stack, running_stack
from tests.reliability.support import (
    EventProbe,
    ledger,
    private_logs,
    reference_ledger,
    running_past,
    wait_status,
)
from tests.sites.serve import SAMPLE_URLS

pytestmark = pytest.mark.e2e

ENV = {
    "CRAWL_WORKER_CONCURRENCY": "2",
    # Seconds, not minutes: a silent job is stalled ~4 s after the kill.
    "CRAWL_WORKER_HEARTBEAT_INTERVAL": "1",
    "CRAWL_WORKER_LEASE_SECONDS": "3",
    "CRAWL_WORKER_CHECKPOINT_INTERVAL": "0.2",
    "CRAWL_STATUS_STALL_AFTER": "4",
    "CRAWL_STATUS_STALL_SCAN_INTERVAL": "0.5",
    "CRAWL_STATUS_MAX_ATTEMPTS": "3",
}
FINISHED = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(services, workers=2, extra_env=ENV, logs=private_logs("crash")) as running:
        yield running


async def test_a_killed_crawlers_job_is_resumed_elsewhere_with_the_same_page_ledger(
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
    victim = {"e2e-crawler-0": "crawler-0", "e2e-crawler-1": "crawler-1"}[doc["worker_id"]]
    # kill -9 of the crawler and of its extraction processes (its process group), as when
    # its machine or container dies.
    process = stack.processes.pop(victim)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    job = await wait_status(client, location, FINISHED, within=120)
    assert job["status"] == "completed", job
    assert job["stop_reason"] == "exhausted"
    assert job["attempt"] >= 2
    assert await ledger(client, location) == expected
    counters = job["counters"]
    assert counters["fetched"] == SAMPLE_URLS
    assert counters["queued"] == counters["in_flight"] == 0
    assert counters["discovered"] == counters["fetched"] + counters["failed"] + counters["skipped"]

    events = await probe.of(job_id)
    types = [e["type"] for e in events]
    assert "CrawlStalled" in types
    started = [e["attempt"] for e in events if e["type"] == "CrawlStarted"]
    assert started[:2] == [1, 2]
    terminals = [e for e in events if e["type"] in ("CrawlCompleted", "CrawlFailed")]
    assert [(t["type"], t["attempt"]) for t in terminals] == [("CrawlCompleted", job["attempt"])]
    # Page records, whether sent alone or in a batch (PagesRecorded).
    records = [r for e in events for r in e.get("pages") or [e] if r["type"] == "PageRecorded"]
    resumed = [r for r in records if r["attempt"] == 2]
    assert resumed
    assert len(resumed) < len(expected)  # resumed from the checkpoint, not from the start
