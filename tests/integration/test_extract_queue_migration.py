"""Moving ``crawler.extract`` from the quorum queue of an earlier version to the classic queue
of transient requests it is now, on the real broker: the old queue is replaced before anything
declares the new one, a crawler starts and serves on a broker that has the old one, and a
second start finds nothing to do."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from crawl_contracts import routing
from crawl_runtime.topology import crawl_exchange, work_queue
from crawl_stack import Services, private_services
from crawl_stack.inspect import queue_info
from crawl_worker.app import CrawlerService
from crawl_worker.legacy import replace_inequivalent_extract_queue
from crawl_worker.settings import WorkerSettings

pytestmark = pytest.mark.integration

QUEUE = routing.EXTRACT_REQUESTS_QUEUE
# crawler.extract as the earlier version declared it.
OLD_ARGUMENTS: dict[str, Any] = {
    "x-queue-type": "quorum",
    "x-delivery-limit": routing.DELIVERY_LIMIT,
    "x-dead-letter-exchange": routing.DEAD_LETTER_EXCHANGE,
    "x-dead-letter-routing-key": routing.dead_letter_queue(QUEUE),
}


@pytest.fixture
def own(service_urls: tuple[str, str, str]) -> Iterator[Services]:
    """A vhost of this test's own: the session's may hold a crawler's classic queue."""
    amqp, management, mongo = service_urls
    with private_services(amqp, management, mongo, prefix="extractq") as services:
        yield services


@pytest.fixture
async def earlier(own: Services) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    """``crawler.extract`` as a quorum queue, bound as before, holding a stale request."""
    connection = await aio_pika.connect(own.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(routing.EXCHANGE, "topic", durable=True)
        queue = await channel.declare_queue(QUEUE, durable=True, arguments=OLD_ARGUMENTS)
        await queue.bind(exchange, routing.EXTRACT_ROUTING_KEY)
        await exchange.publish(aio_pika.Message(b"stale"), routing_key=routing.EXTRACT_ROUTING_KEY)
        yield connection


async def consumers(connection: aio_pika.abc.AbstractConnection) -> int:
    declared = await (await connection.channel()).declare_queue(QUEUE, passive=True)
    return int(declared.declaration_result.consumer_count or 0)


async def test_the_quorum_queue_is_replaced_by_a_usable_classic_one_and_once_only(
    own: Services, earlier: aio_pika.abc.AbstractConnection
) -> None:
    assert (queue_info(own, QUEUE) or {}).get("type") == "quorum"

    assert await replace_inequivalent_extract_queue(own.rabbitmq_url) == "quorum"
    assert queue_info(own, QUEUE) is None  # gone with its stale request, nothing declared yet

    broker = RabbitBroker(own.rabbitmq_url, logger=None)
    await broker.connect()
    try:  # declared as the crawlers declare it
        exchange = await broker.declare_exchange(crawl_exchange())
        queue = await broker.declare_queue(work_queue(QUEUE))
        await queue.bind(exchange, routing_key=routing.EXTRACT_ROUTING_KEY)
        info = queue_info(own, QUEUE)
        assert info is not None
        assert (info["type"], info["durable"]) == ("classic", True)
        assert "x-delivery-limit" not in info["arguments"]
        assert info["arguments"]["x-dead-letter-routing-key"] == "crawler.extract.dead"
        for body in (b"first", b"second"):
            await broker.publish(
                body,
                exchange=routing.EXCHANGE,
                routing_key=routing.EXTRACT_ROUTING_KEY,
                persist=False,
            )
        first = await queue.get(no_ack=True)
        assert first is not None
        assert first.body == b"first"
        assert first.delivery_mode == aio_pika.DeliveryMode.NOT_PERSISTENT

        # Started again: the classic queue is what it should be, and keeps what it holds.
        assert await replace_inequivalent_extract_queue(own.rabbitmq_url) is None
        second = await queue.get(no_ack=True)
        assert second is not None
        assert second.body == b"second"
    finally:
        await broker.stop()


async def test_without_the_queue_there_is_nothing_to_replace_and_nothing_is_declared(
    own: Services,
) -> None:
    assert await replace_inequivalent_extract_queue(own.rabbitmq_url) is None
    assert queue_info(own, QUEUE) is None


async def test_a_crawler_starts_and_serves_on_a_broker_with_the_quorum_queue(
    own: Services, earlier: aio_pika.abc.AbstractConnection
) -> None:
    settings = WorkerSettings(
        rabbitmq_url=own.rabbitmq_url,
        mongodb_url=own.mongodb_url,
        mongodb_database=own.database,
        worker_id="migrating",
        extract_processes=1,
    )
    pool = ThreadPoolExecutor(1)
    service = CrawlerService(settings, extract_pool=pool)
    try:
        # As the crawler's lifespan, then FastStream, start it.
        await service.broker.connect()
        await service.start_resources()
        await service.broker.start()
        info = queue_info(own, QUEUE)
        assert info is not None
        assert info["type"] == "classic"
        assert await consumers(earlier) == 1  # its own extraction server
    finally:
        await service.broker.stop()
        await service.close()
        pool.shutdown(wait=False, cancel_futures=True)
