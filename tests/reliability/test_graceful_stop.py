"""A graceful stop (SIGTERM) of the crawler running a job, as a Kubernetes scale-in, node drain
or rollout does: the job is neither cancelled nor failed by it, but declared stalled and
resumed by the other crawler, and completes with every page. deploy/k8s scales crawlers down
on this promise."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from crawl_stack import Services, Stack, running_stack
from tests.reliability.support import (
    EventProbe,
    private_logs,
    running_past,
    wait_status,
)
from tests.sites.serve import SAMPLE_URLS

pytestmark = pytest.mark.e2e

ENV = {
    "CRAWL_WORKER_CONCURRENCY": "2",
    # Seconds, not minutes: the stopped crawler's lease runs out and its job is stalled soon.
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
    with running_stack(
        services, workers=2, extra_env=ENV, logs=private_logs("graceful")
    ) as running:
        yield running


async def test_a_crawler_stopped_gracefully_leaves_its_job_to_be_resumed_not_ended(
    stack: Stack,
    site: str,
    client: httpx.AsyncClient,
    probe: EventProbe,
    mongo: AsyncMongoClient[dict[str, Any]],
    services: Services,
) -> None:
    created = await client.post("/api/v1/crawls", json={"url": site, "max_depth": 3})
    location, job_id = created.headers["Location"], created.json()["id"]
    doc = await running_past(mongo[services.database].crawls, job_id)
    stopped = {"e2e-crawler-0": "crawler-0", "e2e-crawler-1": "crawler-1"}[doc["worker_id"]]
    stack.kill(stopped, signal.SIGTERM)  # waits for the process to exit

    job = await wait_status(client, location, FINISHED, within=120)
    assert job["status"] == "completed", job
    assert job["stop_reason"] == "exhausted"
    assert job["attempt"] >= 2
    assert job["counters"]["fetched"] == SAMPLE_URLS

    types = [e["type"] for e in await probe.of(job_id)]
    assert "CrawlStalled" in types
    terminals = [t for t in types if t in ("CrawlCompleted", "CrawlFailed", "CrawlCancelled")]
    assert terminals == ["CrawlCompleted"]
