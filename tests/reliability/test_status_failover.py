"""kill -9 of the status replica applying a running job's messages, with a second replica up:
the other takes the job's partition at once (each partition has one active consumer, the
broker hands it to the next when a consumer's connection goes), applies every message the
crawler emitted meanwhile, and the job completes with the same page ledger as an
uninterrupted crawl, its counters never going back, without being declared stalled.

Which replica applies the job is read from the replicas' own logs (``message.projected`` lines
name the job), so the kill always hits the one doing the work."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from crawl_contracts import routing
from crawl_stack import Services, Stack, free_port, running_stack
from crawl_stack.inspect import queue_info
from tests.reliability.support import (
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

STALL_AFTER = 10.0
ENV = {
    "CRAWL_WORKER_CONCURRENCY": "2",
    "CRAWL_WORKER_HEARTBEAT_INTERVAL": "1",
    "CRAWL_STATUS_STALL_AFTER": str(STALL_AFTER),
    "CRAWL_STATUS_STALL_SCAN_INTERVAL": "0.5",
    "CRAWL_STATUS_LOG_LEVEL": "INFO",
}
FINISHED = {"completed", "failed", "cancelled"}
REPLICAS = ("status", "status-2")


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(services, extra_env=ENV, logs=private_logs("status-failover")) as running:
        port = free_port()
        running.metrics_urls["status-2"] = f"http://127.0.0.1:{port}"
        running.start("status-2", "crawl_status", CRAWL_STATUS_METRICS_PORT=str(port))
        running.wait_ready()
        yield running


async def consumers_settle(services: Services, count: int, within: float = 20.0) -> None:
    """Until every partition shows ``count`` consumers, one of them active (the management
    API's figures are refreshed every few seconds)."""

    async def settled() -> bool:
        found = await asyncio.to_thread(partitions, services)
        return all(
            q.get("consumers") == count and q.get("single_active_consumer_ctag")
            for q in found.values()
        )

    try:
        await eventually(settled, within, every=0.5)
    except AssertionError as exc:
        seen = {
            name: (q.get("consumers"), q.get("single_active_consumer_ctag"))
            for name, q in partitions(services).items()
        }
        raise AssertionError(
            f"not {count} consumer(s), one active, on every partition: {seen}"
        ) from exc


def partitions(services: Services) -> dict[str, dict[str, Any]]:
    """Each status partition queue as the management API describes it."""
    found = {}
    for name in routing.STATUS_PARTITION_QUEUES:
        info = queue_info(services, name)
        assert info is not None, name
        found[name] = info
    return found


def applying(stack: Stack, job_id: str) -> list[str]:
    """The replicas whose log shows them applying one of the job's messages."""
    return [
        name
        for name in REPLICAS
        if any(
            job_id in line and "message.projected" in line
            for line in Path(stack.logs / f"{name}.log").read_text(errors="replace").splitlines()
        )
    ]


async def test_a_killed_status_replicas_partitions_are_taken_over_and_nothing_is_lost(
    stack: Stack,
    site: str,
    client: httpx.AsyncClient,
    probe: EventProbe,
    mongo: AsyncMongoClient[dict[str, Any]],
    services: Services,
) -> None:
    await consumers_settle(services, 2)  # both replicas wait on every partition, one receives

    request = {"url": site, "max_pages": 100, "max_depth": 3}
    expected = await reference_ledger(client, request)
    assert sum(1 for outcome in expected.values() if outcome == "fetched") == SAMPLE_URLS

    created = await client.post("/api/v1/crawls", json=request)
    location, job_id = created.headers["Location"], created.json()["id"]
    crawls = mongo[services.database].crawls
    samples: list[dict[str, int]] = []
    sampling = True

    async def sample() -> None:  # the job's counters as readers see them, every 100 ms
        while sampling:
            doc = await crawls.find_one({"_id": job_id}, {"counters": 1})
            if doc is not None:
                samples.append(doc["counters"])
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())

    await running_past(crawls, job_id)
    (victim,) = applying(stack, job_id)  # one replica applies the job: never both
    survivor = next(name for name in REPLICAS if name != victim)
    process = stack.processes.pop(victim)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = time.monotonic()
    at_kill = await crawls.find_one({"_id": job_id})
    assert at_kill is not None
    fetched_at_kill = at_kill["counters"]["fetched"]

    async def moving_again() -> bool:
        doc = await crawls.find_one({"_id": job_id})
        return doc is not None and doc["counters"]["fetched"] > fetched_at_kill

    await eventually(moving_again, within=STALL_AFTER)
    took_over = time.monotonic() - killed_at
    assert applying(stack, job_id) == sorted([victim, survivor], key=REPLICAS.index)

    job = await wait_status(client, location, FINISHED, within=120)
    sampling = False
    await sampler
    assert job["status"] == "completed", job
    assert job["attempt"] == 1  # never declared stalled: taken over within the stall timeout
    assert await ledger(client, location) == expected
    counters = job["counters"]
    assert counters["fetched"] == SAMPLE_URLS
    assert counters["queued"] == counters["in_flight"] == 0
    assert counters["discovered"] == counters["fetched"] + counters["failed"] + counters["skipped"]
    for key in ("discovered", "fetched", "failed", "skipped"):
        seen = [s[key] for s in samples]
        assert seen == sorted(seen), (key, seen)  # never decreasing, as sampled

    events = await probe.of(job_id)
    assert "CrawlStalled" not in [e["type"] for e in events]
    terminals = [e for e in events if e["type"] in ("CrawlCompleted", "CrawlFailed")]
    assert [t["type"] for t in terminals] == ["CrawlCompleted"]

    await consumers_settle(services, 1)  # the survivor holds every partition
    print(f"partition taken over {took_over:.2f} s after the kill (stall timeout {STALL_AFTER} s)")
