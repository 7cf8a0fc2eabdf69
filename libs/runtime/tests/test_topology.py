"""Every service declares the shared exchange and queues with the same arguments."""

from __future__ import annotations

from faststream.rabbit import ExchangeType

from crawl_contracts import routing
from crawl_runtime.topology import (
    crawl_exchange,
    dead_letter_exchange,
    dead_letter_queue,
    declare_dead_letters,
    status_partition_exchange,
    status_partition_queue,
    work_queue,
)

from .fakes import Broker


def test_the_crawl_exchange_is_one_durable_topic_exchange() -> None:
    exchange = crawl_exchange()
    assert (exchange.name, exchange.type, exchange.durable) == ("crawl", ExchangeType.TOPIC, True)


def test_work_queues_are_quorum_queues_with_a_delivery_limit_and_dead_letters() -> None:
    for name, pattern in routing.WORK_QUEUE_BINDINGS.items():
        queue = work_queue(name)
        assert queue.name == name
        assert queue.durable
        assert queue.routing_key == pattern
        assert queue.arguments == {
            "x-queue-type": "quorum",
            "x-delivery-limit": routing.DELIVERY_LIMIT,
            "x-dead-letter-exchange": "crawl.dlx",
            "x-dead-letter-routing-key": f"{name}.dead",
        }


def test_a_work_queue_declared_by_a_publisher_equals_its_consumers() -> None:
    # FastStream declares a queue once per set of arguments: a copy built elsewhere must match.
    name = routing.CRAWLER_REQUESTS_QUEUE
    assert work_queue(name) == work_queue(name)
    assert hash(work_queue(name)) == hash(work_queue(name))
    assert status_partition_queue(3) == status_partition_queue(3)


def test_status_partitions_hash_the_job_id_header_onto_single_consumer_quorum_queues() -> None:
    exchange = status_partition_exchange()
    assert (exchange.name, exchange.type) == ("crawl.status", ExchangeType.X_CONSISTENT_HASH)
    assert exchange.arguments == {"hash-header": "job_id"}
    assert exchange.bind_to == crawl_exchange()
    assert exchange.routing_key == "crawl.#"
    queue = status_partition_queue(5)
    assert queue.name == "status.messages.5"
    assert queue.routing_key == "1"  # weight on the ring: every partition the same
    assert queue.arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": routing.DELIVERY_LIMIT,
        "x-dead-letter-exchange": "crawl.dlx",
        "x-dead-letter-routing-key": "status.messages.dead",  # one for all partitions
        "x-single-active-consumer": True,
    }


def test_dead_letters_go_through_a_durable_direct_exchange_to_quorum_queues() -> None:
    exchange = dead_letter_exchange()
    assert (exchange.name, exchange.type, exchange.durable) == (
        "crawl.dlx",
        ExchangeType.DIRECT,
        True,
    )
    queue = dead_letter_queue("crawler.requests")
    assert queue.name == "crawler.requests.dead"
    assert queue.durable
    assert queue.arguments == {"x-queue-type": "quorum"}


async def test_declaring_dead_letters_binds_the_queue_under_its_own_name() -> None:
    broker = Broker()
    await declare_dead_letters(broker.as_broker(), "status.messages")
    assert [e.name for e in broker.exchanges] == ["crawl.dlx"]
    assert [q.name for q in broker.queues] == ["status.messages.dead"]
    assert broker.bindings == [("status.messages.dead", "crawl.dlx", "status.messages.dead")]
