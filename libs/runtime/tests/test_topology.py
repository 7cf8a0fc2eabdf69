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
    for name in (routing.CRAWLER_REQUESTS_QUEUE, routing.RENDERER_REQUESTS_QUEUE):
        queue = work_queue(name)
        assert queue.name == name
        assert queue.durable
        assert queue.routing_key == routing.WORK_QUEUE_BINDINGS[name]
        assert queue.arguments == {
            "x-queue-type": "quorum",
            "x-delivery-limit": routing.DELIVERY_LIMIT,
            "x-dead-letter-exchange": "crawl.dlx",
            "x-dead-letter-routing-key": f"{name}.dead",
        }


def test_the_extraction_queue_is_a_durable_classic_queue_with_dead_letters_and_no_limit() -> None:
    # Transient requests, worth nothing once their owner stopped waiting: no Raft log for them.
    assert routing.CLASSIC_WORK_QUEUES == (routing.EXTRACT_REQUESTS_QUEUE,)
    queue = work_queue(routing.EXTRACT_REQUESTS_QUEUE)
    assert queue.name == "crawler.extract"
    assert queue.durable
    assert queue.routing_key == routing.EXTRACT_ROUTING_KEY
    assert queue.arguments == {  # a classic queue refuses x-delivery-limit
        "x-queue-type": "classic",
        "x-dead-letter-exchange": "crawl.dlx",
        "x-dead-letter-routing-key": "crawler.extract.dead",
    }


def test_every_work_queue_has_a_type() -> None:
    assert set(routing.CLASSIC_WORK_QUEUES) <= set(routing.WORK_QUEUE_BINDINGS)
    for name in routing.WORK_QUEUE_BINDINGS:
        assert work_queue(name).arguments == routing.work_queue_arguments(name)
        assert routing.work_queue_arguments(name)["x-queue-type"] == routing.work_queue_type(name)


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
