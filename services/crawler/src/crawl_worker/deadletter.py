"""Dead-lettering with a reason: a refused message goes to ``<queue>.dead`` with headers that
say why, and the queue moves on.

RabbitMQ's own dead-lettering (a reject, or the quorum queue's delivery limit) only records
``rejected`` or ``delivery_limit`` in ``x-death``; a message we can read but refuse is therefore
republished by us to the dead-letter exchange (with confirms) with the reason in
``x-crawl-dead-letter-reason``, then acknowledged. If that publish fails, the message is
rejected and the broker dead-letters it without our reason, but still never blocks the queue.
"""

from __future__ import annotations

from typing import Any

import structlog
from faststream.rabbit import RabbitBroker, RabbitMessage

from crawl_contracts import routing

__all__ = ["dead_letter"]

log = structlog.get_logger("crawl_worker.deadletter")


async def dead_letter(
    broker: RabbitBroker, message: RabbitMessage, queue: str, reason: str
) -> None:
    """Move ``message`` from ``queue`` to its dead-letter queue with ``reason``."""
    raw = message.raw_message
    headers: dict[str, Any] = {
        **(raw.headers or {}),
        routing.DEAD_LETTER_REASON_HEADER: reason[:1000],
        routing.DEAD_LETTER_QUEUE_HEADER: queue,
    }
    log.warning("message.dead_lettered", queue=queue, reason=reason[:500])
    try:
        await broker.publish(
            raw.body,
            exchange=routing.DEAD_LETTER_EXCHANGE,
            routing_key=routing.dead_letter_queue(queue),
            headers=headers,
            persist=True,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
            content_type=raw.content_type,
            message_type=raw.type,
        )
    except Exception:
        log.exception("message.dead_letter_publish_failed", queue=queue)
        await message.reject()
        return
    await message.ack()
