"""The crawler's database unreachable mid-crawl: each failed commit of the crawl's state is
logged with its cause and retried; fetching pauses before the lease runs out and goes on once a
commit succeeds; a crawler whose lease ran out gives the job up and never fetches on it again,
and the job is resumed. The ledger ends with every URL once, and ``fetched`` never decreases.

The crawler under test reaches the database through a TCP proxy owned by the test, which is
cut and restored; the API and the status service reach it directly."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from crawl_stack import Services, Stack, free_port, running_stack
from tests.reliability.support import TcpProxy, eventually, ledger, private_logs, wait_status

pytestmark = pytest.mark.e2e

PAGES = 120  # a binary tree: page n links to 2n+1 and 2n+2
DELAY = 0.1  # seconds per page
LEASE = 8.0
MARGIN = 6.0  # min(max(lease / 2, total_timeout + 5), lease * 0.8), as the crawler computes it
ENV = {
    "CRAWL_WORKER_CONCURRENCY": "2",
    "CRAWL_WORKER_LEASE_SECONDS": str(LEASE),
    "CRAWL_WORKER_TOTAL_TIMEOUT": "1",
    "CRAWL_WORKER_CHECKPOINT_INTERVAL": "0.2",
    "CRAWL_WORKER_HEARTBEAT_INTERVAL": "1",
    # Longer than the first test's outage (no commit, no progress: silence), shorter than the
    # second's.
    "CRAWL_STATUS_STALL_AFTER": "7",
    "CRAWL_STATUS_STALL_SCAN_INTERVAL": "0.5",
}
FINISHED = {"completed", "failed", "cancelled"}


class _TreeSite(BaseHTTPRequestHandler):
    """Pages ``/p<n>``; each answered after ``DELAY``; request start times recorded."""

    started: list[float]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/robots.txt":
            self.send_error(404)
            return
        self.started.append(time.monotonic())
        time.sleep(DELAY)
        match = re.fullmatch(r"/p(\d+)", self.path)
        number = int(match[1]) if match else 0
        links = "".join(
            f'<a href="/p{child}">page {child}</a> '
            for child in (2 * number + 1, 2 * number + 2)
            if child < PAGES
        )
        text = f"Page {number} of the tree, with enough words to be kept as the main text. " * 8
        body = f"<html><head><title>Page {number}</title></head><body><p>{text}</p>{links}"
        data = (body + "</body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def tree_site() -> Iterator[tuple[str, list[float]]]:
    started: list[float] = []
    handler = type("Handler", (_TreeSite,), {"started": started})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/p0", started
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def logs() -> Path:
    return private_logs("commits")


@pytest.fixture(scope="module")
def stack(services: Services, logs: Path) -> Iterator[Stack]:
    with running_stack(services, workers=0, extra_env=ENV, logs=logs) as running:
        yield running


@pytest.fixture
async def proxy(services: Services) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(services.mongodb_url)
    running = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 27017)
    await running.start()
    try:
        yield running
    finally:
        await running.cut()


@pytest.fixture
async def crawler(stack: Stack, services: Services, proxy: TcpProxy) -> AsyncIterator[str]:
    """A crawler process whose only way to the database is the proxy; its log file."""
    parts = urlsplit(services.mongodb_url)
    via_proxy = urlunsplit((parts.scheme, f"127.0.0.1:{proxy.port}", parts.path, "", ""))
    port = free_port()
    name = f"crawler-proxied-{port}"
    stack.start(
        name,
        "crawl_worker",
        CRAWL_WORKER_MONGODB_URL=via_proxy,
        CRAWL_WORKER_WORKER_ID=name,
        CRAWL_WORKER_METRICS_PORT=str(port),
        CRAWL_WORKER_LOG_JSON="true",
    )

    async def ready() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                answer = await client.get(f"http://127.0.0.1:{port}/health/ready", timeout=1)
            return answer.status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(ready, within=60, every=0.2)
    try:
        yield name
    finally:
        stack.kill(name)


def events(logs: Path, name: str) -> list[dict[str, Any]]:
    lines = (logs / f"{name}.log").read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


async def crawl_with_an_outage(
    stack: Stack, site: str, proxy: TcpProxy, outage: float
) -> tuple[dict[str, Any], dict[str, str], list[int], float, float]:
    """Crawl ``site``, cut the crawler's database for ``outage`` seconds once 10 pages are
    fetched; the finished job, its ledger, ``fetched`` sampled every 0.2 s, and when the cut
    and the restore happened (monotonic)."""
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.headers, timeout=30
    ) as client:
        created = await client.post(
            "/api/v1/crawls", json={"url": site, "max_pages": 1000, "max_depth": 10}
        )
        location = created.headers["Location"]
        samples: list[int] = []

        async def sample() -> None:
            while True:
                job = (await client.get(location)).json()
                samples.append(job["counters"]["fetched"])
                await asyncio.sleep(0.2)

        sampling = asyncio.create_task(sample())
        try:

            async def ten_fetched() -> bool:
                return bool(samples) and samples[-1] >= 10

            await eventually(ten_fetched, within=60)
            cut_at = time.monotonic()
            await proxy.cut()
            await asyncio.sleep(outage)
            await proxy.restore()
            restored_at = time.monotonic()
            job = await wait_status(client, location, FINISHED, within=120)
        finally:
            sampling.cancel()
        return job, await ledger(client, location), samples, cut_at, restored_at


async def test_failed_commits_are_logged_retried_and_pause_fetching_before_the_lease_ends(
    stack: Stack, proxy: TcpProxy, crawler: str, logs: Path
) -> None:
    with tree_site() as (site, started):
        job, pages, samples, cut_at, restored_at = await crawl_with_an_outage(
            stack, site, proxy, outage=4.5
        )
    assert job["status"] == "completed", job
    assert job["attempt"] == 1, "the lease never ran out: no other attempt"
    assert sum(1 for outcome in pages.values() if outcome == "fetched") == PAGES
    assert job["counters"]["fetched"] == PAGES
    assert samples == sorted(samples), "fetched never decreases"
    # The gate closes once less than MARGIN of the lease is left, LEASE - MARGIN after the
    # last renewal (at most one checkpoint interval before the cut): from then until a commit
    # succeeds after the restore, no visit starts.
    paused = [t for t in started if cut_at + (LEASE - MARGIN) + 0.3 < t < restored_at]
    assert paused == []
    assert [t for t in started if t > restored_at], "fetching went on after the outage"
    logged = events(logs, crawler)
    failures = [e for e in logged if e["event"] == "crawl_state.commit_failed"]
    assert len(failures) >= 2, "every failure is logged, and the commit is retried"
    assert all(e["error"] for e in failures)
    assert any(e["fetching"] is False for e in failures), "fetching paused, as logged"
    assert any(e["event"] == "crawl_state.commit_recovered" for e in logged)
    assert not any(e["event"] == "lease.expired" for e in logged)


async def test_a_crawler_whose_lease_ran_out_gives_the_job_up_and_it_is_resumed(
    stack: Stack, proxy: TcpProxy, crawler: str, logs: Path
) -> None:
    with tree_site() as (site, started):
        job, pages, samples, cut_at, restored_at = await crawl_with_an_outage(
            stack, site, proxy, outage=LEASE + 3
        )
    assert job["status"] == "completed", job
    assert job["attempt"] >= 2, "resumed by another attempt once the first gave the job up"
    assert sum(1 for outcome in pages.values() if outcome == "fetched") == PAGES
    assert job["counters"]["fetched"] == PAGES
    assert samples == sorted(samples), "fetched never decreases, across the resume"
    # Nothing fetched on the lost lease: between the gate's closing and the restore (after
    # which only the next attempt fetches) no visit started.
    assert [t for t in started if cut_at + (LEASE - MARGIN) + 0.3 < t < restored_at] == []
    logged = events(logs, crawler)
    assert any(e["event"] == "lease.expired" and e["error"] for e in logged)
    assert any(e["event"] == "crawl.abandoned" for e in logged)
