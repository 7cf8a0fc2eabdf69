"""A refused message is republished to its dead-letter queue with the reason, then acked."""

from __future__ import annotations

from crawl_contracts import routing
from crawl_runtime.deadletters import dead_letter

from .fakes import Broker, Message


async def test_a_refused_message_goes_to_its_dead_letter_queue_with_the_reason() -> None:
    broker = Broker()
    message = Message(b"not json", headers={"x-trace": "t-1"}, message_id="m-7")
    await dead_letter(broker.as_broker(), message.as_message(), "status.messages", "unparseable")

    ((body, options),) = broker.published
    assert body == b"not json"
    assert options == {
        "exchange": routing.DEAD_LETTER_EXCHANGE,
        "routing_key": "status.messages.dead",
        "headers": {
            "x-trace": "t-1",
            "x-crawl-dead-letter-reason": "unparseable",
            "x-crawl-dead-letter-queue": "status.messages",
        },
        "persist": True,
        "message_id": "m-7",
        "correlation_id": "c-1",
        "content_type": "application/json",
        "message_type": "CrawlRequested",
    }
    assert message.settled == ["ack"]


async def test_a_long_reason_is_cut_to_a_thousand_characters() -> None:
    broker = Broker()
    await dead_letter(broker.as_broker(), Message().as_message(), "crawler.requests", "x" * 5000)
    ((_, options),) = broker.published
    assert options["headers"][routing.DEAD_LETTER_REASON_HEADER] == "x" * 1000


async def test_a_failed_republish_rejects_the_message_so_the_broker_dead_letters_it() -> None:
    broker = Broker(fail=ConnectionError("channel closed"))
    message = Message()
    await dead_letter(broker.as_broker(), message.as_message(), "crawler.requests", "bad")
    assert message.settled == ["reject"]
