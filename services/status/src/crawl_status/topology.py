"""RabbitMQ objects only the status service has: its copy of every dead letter. The shared
exchange, work queues, status partitions and dead letters are :mod:`crawl_runtime.topology`'s.
"""

from __future__ import annotations

from typing import Any

from faststream.rabbit import QueueType, RabbitBroker, RabbitQueue

from crawl_contracts import routing
from crawl_runtime.topology import dead_letter_exchange

__all__ = ["bind_dead_letter_copies", "dead_letter_copies"]


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
    for name in routing.DEAD_LETTERED_QUEUES:
        await queue.bind(exchange, routing_key=routing.dead_letter_queue(name))
