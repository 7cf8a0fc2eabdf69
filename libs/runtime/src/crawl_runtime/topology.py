"""The RabbitMQ objects more than one service declares, with the one set of arguments each.

RabbitMQ refuses a second declaration of an exchange or queue whose arguments differ from the
first, so every service (a queue's consumer, and a publisher that must not publish into the
void) builds them here: the shared topic exchange, the quorum work queues with their delivery
limit and dead-letter exchange, and the dead-letter exchange with its ``<queue>.dead`` queues.
Names come from :mod:`crawl_contracts.routing`.
"""

from __future__ import annotations

from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from crawl_contracts import routing

__all__ = [
    "crawl_exchange",
    "dead_letter_exchange",
    "dead_letter_queue",
    "declare_dead_letters",
    "work_queue",
]


def crawl_exchange() -> RabbitExchange:
    """The durable topic exchange that carries every command and event."""
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


def dead_letter_exchange() -> RabbitExchange:
    """The durable direct exchange that routes a dead letter to ``<queue>.dead``."""
    return RabbitExchange(routing.DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)


def dead_letter_queue(queue: str) -> RabbitQueue:
    """``<queue>.dead``: the quorum queue keeping ``queue``'s dead letters for inspection."""
    return RabbitQueue(routing.dead_letter_queue(queue), queue_type=QueueType.QUORUM, durable=True)


async def declare_dead_letters(broker: RabbitBroker, queue: str) -> None:
    """Declare the dead-letter exchange and ``<queue>.dead``, bound to it."""
    exchange = await broker.declare_exchange(dead_letter_exchange())
    dead = await broker.declare_queue(dead_letter_queue(queue))
    await dead.bind(exchange, routing_key=routing.dead_letter_queue(queue))
