"""Poison messages on each work queue (the renderer's and the extraction queue too) end in its
dead-letter queue with a reason, are filed against their job where one can be read, and never
block the good messages behind them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from faststream.rabbit import RabbitBroker, RabbitQueue
from pymongo import AsyncMongoClient

from crawl_contracts import routing
from crawl_stack import Services, Stack, running_stack
from tests.reliability.support import eventually, private_logs, wait_status
from tests.sites.serve import serving

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(services, workers=1, logs=private_logs("dead-letters")) as running:
        yield running


@pytest.fixture
async def broker(services: Services) -> AsyncIterator[RabbitBroker]:
    broker = RabbitBroker(services.rabbitmq_url, logger=None)
    await broker.connect()
    yield broker
    await broker.stop()


async def consumed(services: Services, queue: str) -> None:
    """Wait until ``queue`` exists and has a consumer (the services start in parallel)."""
    parts = urlsplit(services.rabbitmq_url)
    vhost = quote(parts.path.lstrip("/"), safe="")
    url = f"{services.management_url.rstrip('/')}/api/queues/{vhost}/{quote(queue, safe='')}"
    auth = (parts.username or "guest", parts.password or "guest")
    async with httpx.AsyncClient(auth=auth, timeout=5) as management:

        async def has_consumer() -> bool:
            response = await management.get(url)
            return response.status_code == 200 and response.json().get("consumers", 0) > 0

        await eventually(has_consumer, within=60, every=0.2)


async def dead_letters(broker: RabbitBroker, queue: str) -> list[Any]:
    dead = await broker.declare_queue(RabbitQueue(routing.dead_letter_queue(queue), declare=False))
    found = []
    while (message := await dead.get(fail=False, no_ack=True)) is not None:
        found.append(message)
    return found


async def test_garbage_on_each_work_queue_is_dead_lettered_with_a_reason_and_work_goes_on(
    stack: Stack,
    broker: RabbitBroker,
    mongo: AsyncMongoClient[dict[str, Any]],
    services: Services,
) -> None:
    await consumed(services, routing.STATUS_DEAD_LETTERS_QUEUE)
    await consumed(services, routing.status_partition_queue(0))
    await consumed(services, routing.RENDERER_REQUESTS_QUEUE)
    await consumed(services, routing.EXTRACT_REQUESTS_QUEUE)
    tag = uuid.uuid4().hex
    crawler_garbage = f"\x00not a command {tag}".encode()
    status_garbage = f"{{not json {tag}".encode()
    bad_job = f"bad-request-{tag}"
    bad_command = json.dumps(
        {"type": "CrawlRequested", "job_id": bad_job, "tenant": "e2e", "request": {"url": "x"}}
    ).encode()
    renderer_garbage = f"[not a render request {tag}]".encode()
    unanswerable = json.dumps(  # a valid request, but nowhere to send the page
        {
            "type": "RenderRequested",
            "job_id": f"render-{tag}",
            "tenant": "e2e",
            "url": "http://127.0.0.1:9/",
            "body": "PHA-",
            "deadline": "2099-01-01T00:00:00Z",
        }
    ).encode()
    extract_garbage = f"[not an extraction request {tag}]".encode()
    extract_unanswerable = json.dumps(  # valid, but nowhere to send the text
        {
            "type": "ExtractRequested",
            "job_id": f"extract-{tag}",
            "tenant": "e2e",
            "url": "http://127.0.0.1:9/",
            "body": "PHA-",
            "deadline": "2099-01-01T00:00:00Z",
        }
    ).encode()
    # Straight into each work queue (the default exchange routes by queue name).
    await broker.publish(crawler_garbage, exchange="", routing_key=routing.CRAWLER_REQUESTS_QUEUE)
    await broker.publish(bad_command, exchange="", routing_key=routing.CRAWLER_REQUESTS_QUEUE)
    # A status partition's dead letters go to status.messages.dead, whatever the partition.
    await broker.publish(status_garbage, exchange="", routing_key=routing.status_partition_queue(0))
    for body in (renderer_garbage, unanswerable):
        await broker.publish(body, exchange="", routing_key=routing.RENDERER_REQUESTS_QUEUE)
    for body in (extract_garbage, extract_unanswerable):
        await broker.publish(body, exchange="", routing_key=routing.EXTRACT_REQUESTS_QUEUE)

    with serving() as site:
        async with httpx.AsyncClient(
            base_url=stack.api_url, headers=stack.headers, timeout=30
        ) as client:
            created = await client.post(
                "/api/v1/crawls", json={"url": site + "conifers/", "max_depth": 1}
            )
            assert created.status_code == 202
            job = await wait_status(
                client, created.headers["Location"], {"completed", "failed", "cancelled"}
            )
    assert job["status"] == "completed"
    assert job["counters"]["fetched"] == 7  # the section index and its six pages

    records = mongo[services.database].crawl_dead_letters

    async def filed() -> bool:
        return await records.count_documents({"body": {"$regex": tag}}) == 7

    await eventually(filed, within=30)

    crawler_dead = {
        m.body: m.headers for m in await dead_letters(broker, routing.CRAWLER_REQUESTS_QUEUE)
    }
    status_dead = {m.body: m.headers for m in await dead_letters(broker, routing.STATUS_QUEUE)}
    reason = routing.DEAD_LETTER_REASON_HEADER
    assert str(crawler_dead[crawler_garbage][reason]).startswith("unparseable")
    assert "request.url" in str(crawler_dead[bad_command][reason])
    assert str(status_dead[status_garbage][reason]).startswith("unparseable")
    assert crawler_dead[bad_command][routing.DEAD_LETTER_QUEUE_HEADER] == "crawler.requests"
    renderer_dead = {
        m.body: m.headers for m in await dead_letters(broker, routing.RENDERER_REQUESTS_QUEUE)
    }
    assert str(renderer_dead[renderer_garbage][reason]).startswith("unparseable")
    assert renderer_dead[unanswerable][reason] == "a render request without reply_to"
    extract_dead = {
        m.body: m.headers for m in await dead_letters(broker, routing.EXTRACT_REQUESTS_QUEUE)
    }
    assert str(extract_dead[extract_garbage][reason]).startswith("unparseable")
    assert extract_dead[extract_unanswerable][reason] == "an extraction request without reply_to"

    against_job = await records.find_one({"job_id": bad_job})
    assert against_job is not None
    assert against_job["queue"] == routing.CRAWLER_REQUESTS_QUEUE
    assert "request.url" in against_job["reason"]
    # No document of that job existed (nothing recorded it): the failure makes one, so a
    # client that published the command sees why it went nowhere.
    crawls = mongo[services.database].crawls

    async def failed() -> bool:
        doc = await crawls.find_one({"_id": bad_job})
        return doc is not None and doc["status"] == "failed"

    await eventually(failed, within=30)
    doc = await crawls.find_one({"_id": bad_job})
    assert doc is not None
    assert doc["tenant"] == "e2e"
    assert doc["error"]["code"] == "dead_lettered"
