"""The RabbitMQ objects more than one service declares, with the one set of arguments each.

RabbitMQ refuses a second declaration of an exchange or queue whose arguments differ from the
first, so every service (a queue's consumer, and a publisher that must not publish into the
void) builds them here: the shared topic exchange, the work queues with their dead-letter
exchange, and the dead-letter exchange with its ``<queue>.dead`` queues. Names come from
:mod:`crawl_contracts.routing`.

**Work queues.** Quorum queues with a delivery limit (a message that keeps failing is
dead-lettered), but for ``routing.CLASSIC_WORK_QUEUES`` (``crawler.extract``): durable classic
queues of transient requests, since a request is worth nothing once its asker stopped waiting
and a quorum queue would spend its Raft log and fsync on every one. They have no delivery
limit; the request's ``deadline`` bounds its redeliveries instead (its servers drop it past
then, and log each redelivery).

**Status partitions.** Everything under ``crawl.#`` goes from the crawl exchange (an
exchange-to-exchange binding) to ``crawl.status``, a consistent-hash exchange (RabbitMQ's
``rabbitmq_consistent_hash_exchange`` plugin, shipped with RabbitMQ) hashing each message's
``job_id`` header onto ``routing.STATUS_PARTITIONS`` quorum queues ``status.messages.<k>``,
each bound with weight 1 and each with a single active consumer. Every status replica consumes
every partition; the broker lets one consumer at a time receive from a partition, so each
job's messages are applied by exactly one replica, in order, and when that replica goes (its
connection closes: a crash, a kill, a stop) the next waiting consumer takes the partition at
once. A replica added later waits on every partition and takes those that fall to it.
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
    "declare_status_partitions",
    "status_partition_exchange",
    "status_partition_queue",
    "work_queue",
]


def crawl_exchange() -> RabbitExchange:
    """The durable topic exchange that carries every command and event."""
    return RabbitExchange(routing.EXCHANGE, type=ExchangeType.TOPIC, durable=True)


def work_queue(name: str) -> RabbitQueue:
    """A durable work queue whose rejected messages go to ``<name>.dead``: a quorum queue that
    also dead-letters a message after ``routing.DELIVERY_LIMIT`` deliveries, or, for
    ``routing.CLASSIC_WORK_QUEUES``, a classic queue (no delivery limit: see the module
    docstring)."""
    args: Any = routing.work_queue_arguments(name)  # a QuorumQueueArgs or ClassicQueueArgs dict
    classic = routing.work_queue_type(name) == "classic"
    return RabbitQueue(
        name,
        queue_type=QueueType.CLASSIC if classic else QueueType.QUORUM,
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


def status_partition_exchange() -> RabbitExchange:
    """``crawl.status``: ``crawl.#`` from the crawl exchange, hashed on the job id header."""
    return RabbitExchange(
        routing.STATUS_PARTITION_EXCHANGE,
        type=ExchangeType.X_CONSISTENT_HASH,
        durable=True,
        arguments={"hash-header": routing.JOB_ID_HEADER},
        bind_to=crawl_exchange(),
        routing_key=routing.ALL_PATTERN,
    )


def status_partition_queue(partition: int) -> RabbitQueue:
    """``status.messages.<partition>``: a quorum queue with one active consumer at a time,
    bound with weight 1; its dead letters go to ``status.messages.dead``."""
    args: Any = {
        **routing.work_queue_arguments(routing.STATUS_QUEUE),
        "x-single-active-consumer": True,
    }
    return RabbitQueue(
        routing.status_partition_queue(partition),
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key="1",  # the binding's weight on the hash ring
        arguments=args,
    )


async def declare_status_partitions(broker: RabbitBroker) -> None:
    """Declare ``crawl.status`` (bound to the crawl exchange) and every partition queue bound
    to it: a publisher that declares them loses nothing published before the first status
    replica started."""
    exchange = await broker.declare_exchange(status_partition_exchange())
    for partition in range(routing.STATUS_PARTITIONS):
        queue = await broker.declare_queue(status_partition_queue(partition))
        await queue.bind(exchange, routing_key="1")
