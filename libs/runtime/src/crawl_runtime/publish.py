"""Publishing to the broker the one way every service does it.

A message is published persistent, with the routing key of its type, its ``message_id`` and
``correlation_id`` as AMQP properties, its type as the AMQP ``type``, its job id in the
``job_id`` header (what the status service's partitions hash on), and ``mandatory``: a message
no queue took is returned by the broker (an error on a channel that raises on returns, as the
API's does). On a channel with publisher confirms (FastStream's default, and every
service's) the call returns once the broker confirmed the message.

A message already received (one refused to a dead-letter queue, one put back at the tail of its
queue) is republished as it came: the same body and properties, the headers given.
"""

from __future__ import annotations

from typing import Any

from faststream.rabbit import RabbitBroker, RabbitMessage

from crawl_contracts import Envelope, routing

__all__ = ["publish_message", "republish"]


async def publish_message(
    broker: RabbitBroker,
    message: Envelope,
    *,
    correlation_id: str | None = None,
    confirm_timeout: float | None = None,
) -> None:
    """Publish ``message`` to the crawl exchange under its type's routing key.

    ``correlation_id`` is the AMQP property (``None``: the message's own);
    ``confirm_timeout`` bounds the wait for the broker's confirm (``None``: no bound)."""
    await broker.publish(
        message.model_dump_json().encode(),
        exchange=routing.EXCHANGE,
        routing_key=routing.routing_key(message.type),
        persist=True,
        mandatory=True,
        timeout=confirm_timeout,
        message_id=message.message_id,
        correlation_id=correlation_id or message.correlation_id,
        content_type="application/json",
        message_type=message.type,
        # The status service's partitions hash on it (routing.STATUS_PARTITION_EXCHANGE).
        headers={routing.JOB_ID_HEADER: message.job_id},
    )


async def republish(
    broker: RabbitBroker,
    message: RabbitMessage,
    *,
    exchange: str,
    routing_key: str,
    headers: dict[str, Any] | None,
) -> None:
    """Publish a copy of a received ``message`` (body, ids, content type and type) with
    ``headers`` to ``exchange`` (``""``: straight to the queue named ``routing_key``)."""
    raw = message.raw_message
    await broker.publish(
        raw.body,
        exchange=exchange,
        routing_key=routing_key,
        headers=headers,
        persist=True,
        message_id=raw.message_id,
        correlation_id=raw.correlation_id,
        content_type=raw.content_type,
        message_type=raw.type,
    )
