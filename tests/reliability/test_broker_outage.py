"""The broker unreachable during a submit: the API answers 503 (problem+json, Retry-After) and
records nothing; every 202 it gave before and after the outage ends in a finished job. No job is
left ``pending`` for ever and none is silently lost.

The API under test reaches RabbitMQ through a TCP proxy owned by the test, which is cut and
restored; the shared broker itself is never touched."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from pymongo import AsyncMongoClient

from crawl_stack import Services, Stack, free_port, running_stack
from tests.reliability.support import (
    TcpProxy,
    eventually,
    private_logs,
    wait_ready,
    wait_status,
)
from tests.sites.serve import serving

pytestmark = pytest.mark.e2e

TOKEN = "outage-token"
TENANT = "outage"
FINISHED = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(services, workers=1, logs=private_logs("outage")) as running:
        yield running


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serving() as url:
        yield url


@pytest.fixture
async def proxied_api(stack: Stack, services: Services) -> AsyncIterator[tuple[str, TcpProxy]]:
    """A second API process whose only way to RabbitMQ is the proxy."""
    parts = urlsplit(services.rabbitmq_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    await proxy.start()
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    port = free_port()
    stack.start(
        "api-proxied",
        "crawl_api",
        CRAWL_API_RABBITMQ_URL=urlunsplit((parts.scheme, netloc, parts.path, "", "")),
        CRAWL_API_PORT=str(port),
        CRAWL_API_PUBLISH_TIMEOUT="1",
        CRAWL_API_TOKENS=json.dumps({TOKEN: {"user": "o", "tenant": TENANT}}),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url)
        yield url, proxy
    finally:
        stack.kill("api-proxied")
        await proxy.cut()


async def test_submits_during_an_outage_get_503_and_leave_nothing_and_no_202_is_lost(
    proxied_api: tuple[str, TcpProxy],
    site: str,
    mongo: AsyncMongoClient[dict[str, Any]],
    services: Services,
) -> None:
    url, proxy = proxied_api
    crawls = mongo[services.database].crawls
    accepted: list[str] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        request = {"url": site + "conifers/", "max_depth": 1}
        before = await client.post("/api/v1/crawls", json=request)
        assert before.status_code == 202
        accepted.append(before.json()["id"])

        await proxy.cut()
        for _ in range(3):
            refused = await client.post("/api/v1/crawls", json=request)
            assert refused.status_code == 503
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["type"].endswith("/service-unavailable")
        assert (await client.get("/health/ready")).status_code == 503
        stored = {doc["_id"] async for doc in crawls.find({"tenant": TENANT})}
        assert stored == set(accepted)  # nothing recorded for the refused submits

        await proxy.restore()
        await wait_ready(url)
        after = await client.post("/api/v1/crawls", json=request)
        assert after.status_code == 202
        accepted.append(after.json()["id"])

        for job_id in accepted:
            job = await wait_status(client, f"/api/v1/crawls/{job_id}", FINISHED, within=60)
            assert job["status"] == "completed"
            assert job["counters"]["fetched"] > 0

    async def only_accepted_jobs() -> bool:
        docs = [doc async for doc in crawls.find({"tenant": TENANT})]
        return {d["_id"] for d in docs} == set(accepted) and all(
            d["status"] == "completed" for d in docs
        )

    await eventually(only_accepted_jobs, within=10)
