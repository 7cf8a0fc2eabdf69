"""Dead-lettering with a reason: a refused message goes to ``<queue>.dead`` with headers that
say why, and the queue moves on.

RabbitMQ's own dead-lettering (a reject, or a quorum queue's delivery limit) only records
``rejected`` or ``delivery_limit`` in ``x-death``; a message a service can read but refuses is
therefore republished by it to the dead-letter exchange (with confirms) with the reason in
``x-crawl-dead-letter-reason`` and the queue in ``x-crawl-dead-letter-queue``, then
acknowledged. If that publish fails, the message is rejected and the broker dead-letters it
without the reason, but it still never blocks the queue.
"""

from __future__ import annotations

from typing import Any

import structlog
from faststream.rabbit import RabbitBroker, RabbitMessage

from crawl_contracts import routing
from crawl_runtime.publish import republish

__all__ = ["dead_letter"]

log = structlog.get_logger("crawl_runtime.deadletters")

_REASON_CHARS = 1000  # in the header
_LOGGED_REASON_CHARS = 500


async def dead_letter(
    broker: RabbitBroker, message: RabbitMessage, queue: str, reason: str
) -> None:
    """Move ``message`` from ``queue`` to its dead-letter queue with ``reason``."""
    headers: dict[str, Any] = {
        **(message.raw_message.headers or {}),
        routing.DEAD_LETTER_REASON_HEADER: reason[:_REASON_CHARS],
        routing.DEAD_LETTER_QUEUE_HEADER: queue,
    }
    log.warning("message.dead_lettered", queue=queue, reason=reason[:_LOGGED_REASON_CHARS])
    try:
        await republish(
            broker,
            message,
            exchange=routing.DEAD_LETTER_EXCHANGE,
            routing_key=routing.dead_letter_queue(queue),
            headers=headers,
        )
    except Exception:
        log.exception("message.dead_letter_publish_failed", queue=queue)
        await message.reject()
        return
    await message.ack()
