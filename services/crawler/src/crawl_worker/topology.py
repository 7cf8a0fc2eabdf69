"""RabbitMQ objects of the crawler: the shared exchange, its work queue, the cancel broadcast."""

from __future__ import annotations

from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from crawl_contracts import routing

__all__ = [
    "bind_extra_routes",
    "cancel_queue",
    "crawl_exchange",
    "declare_dead_letters",
    "work_queue",
]


def crawl_exchange() -> RabbitExchange:
    return RabbitExchange(routing.EXCHANGE, type=ExchangeType.TOPIC, durable=True)


def work_queue(name: str) -> RabbitQueue:
    """A quorum work queue; poison messages go to ``<name>.dead`` after a few deliveries."""
    args: Any = routing.work_queue_arguments(name)  # a QuorumQueueArgs dict
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing.WORK_QUEUE_BINDINGS[name],
        arguments=args,
    )


def cancel_queue(worker_id: str) -> RabbitQueue:
    """This instance's own queue for cancel broadcasts: every crawler hears every cancel."""
    return RabbitQueue(
        f"crawler.cancel.{worker_id}",
        auto_delete=True,
        exclusive=True,
        durable=False,
        routing_key=routing.routing_key("CrawlCancelRequested"),
    )


async def declare_dead_letters(broker: RabbitBroker, queue: str) -> None:
    """Declare the dead-letter exchange and ``<queue>.dead``, bound to it."""
    exchange = await broker.declare_exchange(
        RabbitExchange(routing.DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)
    )
    dead = await broker.declare_queue(
        RabbitQueue(routing.dead_letter_queue(queue), queue_type=QueueType.QUORUM, durable=True)
    )
    await dead.bind(exchange, routing_key=routing.dead_letter_queue(queue))


async def bind_extra_routes(broker: RabbitBroker) -> None:
    """Bind ``crawler.requests`` to the other commands it serves (resumes of stalled jobs)."""
    exchange = await broker.declare_exchange(crawl_exchange())
    queue = await broker.declare_queue(work_queue(routing.CRAWLER_REQUESTS_QUEUE))
    for key in routing.CRAWLER_EXTRA_BINDINGS:
        await queue.bind(exchange, routing_key=key)
