"""Every service publishes a message the same way: routing key, ids, type, persistent."""

from __future__ import annotations

import json

import pytest

from crawl_contracts import CrawlCancelRequested, CrawlHeartbeat, routing
from crawl_runtime.publish import publish_message, republish

from .fakes import Broker, Message


async def test_a_message_is_published_persistent_under_its_types_routing_key() -> None:
    broker = Broker()
    event = CrawlHeartbeat(job_id="j", tenant="t", worker_id="w", seq=3, correlation_id="c-9")
    await publish_message(broker.as_broker(), event)

    ((body, options),) = broker.published
    assert json.loads(body) == json.loads(event.model_dump_json())
    assert options == {
        "exchange": routing.EXCHANGE,
        "routing_key": "crawl.event.heartbeat",
        "persist": True,
        "mandatory": True,
        "timeout": None,
        "message_id": event.message_id,
        "correlation_id": "c-9",
        "content_type": "application/json",
        "message_type": "CrawlHeartbeat",
        "headers": {"job_id": "j"},  # what the status partitions hash on
    }


async def test_the_caller_may_set_the_correlation_id_and_bound_the_confirm() -> None:
    broker = Broker()
    command = CrawlCancelRequested(job_id="j", tenant="t")
    await publish_message(
        broker.as_broker(), command, correlation_id=command.message_id, confirm_timeout=5.0
    )
    ((body, options),) = broker.published
    assert options["routing_key"] == "crawl.command.cancel"
    assert options["correlation_id"] == command.message_id
    assert options["timeout"] == 5.0
    assert json.loads(body)["correlation_id"] is None  # the body is the message as it is


async def test_a_message_without_a_routing_key_is_refused_before_publishing() -> None:
    broker = Broker()
    heartbeat = CrawlHeartbeat(job_id="j", tenant="t", worker_id="w")
    stray = heartbeat.model_copy(update={"type": "Unknown"})
    with pytest.raises(ValueError, match="no routing key"):
        await publish_message(broker.as_broker(), stray)
    assert broker.published == []


async def test_a_received_message_is_republished_as_it_came_with_the_given_headers() -> None:
    broker = Broker()
    message = Message(b"body", headers={"a": 1}, message_id="m-2", correlation_id=None)
    await republish(
        broker.as_broker(),
        message.as_message(),
        exchange="",
        routing_key="crawler.requests",
        headers={"b": 2},
    )
    assert broker.published == [
        (
            b"body",
            {
                "exchange": "",
                "routing_key": "crawler.requests",
                "headers": {"b": 2},
                "persist": True,
                "message_id": "m-2",
                "correlation_id": None,
                "content_type": "application/json",
                "message_type": "CrawlRequested",
            },
        )
    ]
    assert message.settled == []  # settling is the caller's
