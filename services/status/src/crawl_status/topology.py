"""RabbitMQ objects of this service: the shared exchange, its work queue and dead letters."""

from __future__ import annotations

from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from crawl_contracts import routing

__all__ = [
    "bind_dead_letter_copies",
    "crawl_exchange",
    "dead_letter_copies",
    "dead_letter_exchange",
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


async def declare_dead_letters(broker: RabbitBroker, queue: str) -> None:
    """Declare the dead-letter exchange and ``<queue>.dead``, bound to it."""
    exchange = await broker.declare_exchange(
        RabbitExchange(routing.DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)
    )
    dead = await broker.declare_queue(
        RabbitQueue(routing.dead_letter_queue(queue), queue_type=QueueType.QUORUM, durable=True)
    )
    await dead.bind(exchange, routing_key=routing.dead_letter_queue(queue))


def dead_letter_exchange() -> RabbitExchange:
    return RabbitExchange(routing.DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)


def dead_letter_copies() -> RabbitQueue:
    """This service's copy of every dead letter, bound to each work queue's dead-letter key.

    No dead-letter exchange of its own: a copy that cannot be recorded after a few deliveries
    is dropped (the dead-letter queue still holds the original)."""
    args: Any = {"x-queue-type": "quorum", "x-delivery-limit": routing.DELIVERY_LIMIT}
    return RabbitQueue(
        routing.STATUS_DEAD_LETTERS_QUEUE,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing.dead_letter_queue(routing.STATUS_QUEUE),
        arguments=args,
    )


async def bind_dead_letter_copies(broker: RabbitBroker) -> None:
    """Bind the copy queue to the dead-letter keys of every work queue."""
    exchange = await broker.declare_exchange(dead_letter_exchange())
    queue = await broker.declare_queue(dead_letter_copies())
    for name in routing.WORK_QUEUE_BINDINGS:
        await queue.bind(exchange, routing_key=routing.dead_letter_queue(name))
