"""Moving off the single status queue: a deployment that ran before the status service was
partitioned has a ``status.messages`` queue bound to ``crawl.#``. At start, a replica that
finds it unbinds it (nothing more arrives there), moves each message it still holds to its
job's partition (the job id header set from the body) and deletes it once empty. A message
whose body names no job is rejected to ``status.messages.dead`` by the queue's own
dead-lettering. Replicas starting together share the draining; whichever finds the queue
gone has nothing to do.
"""

from __future__ import annotations

import json

import aio_pika
import structlog
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import AMQPError, ChannelClosed

from crawl_contracts import routing

__all__ = ["drain_legacy_queue"]

log = structlog.get_logger("crawl_status.legacy")


async def drain_legacy_queue(url: str) -> int:
    """Move ``status.messages``'s messages to the partitions; how many were moved."""
    connection = await aio_pika.connect(url)
    moved = 0
    async with connection:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(routing.STATUS_QUEUE, passive=True)
        except ChannelClosed:  # no such queue (a deployment that never had one)
            return 0
        try:
            await queue.unbind(routing.EXCHANGE, routing.ALL_PATTERN)
            exchange = await channel.get_exchange(routing.STATUS_PARTITION_EXCHANGE, ensure=True)
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                job_id = _job_id(message)
                if job_id is None:
                    await message.reject(requeue=False)
                    continue
                await exchange.publish(
                    aio_pika.Message(
                        message.body,
                        headers={**message.headers, routing.JOB_ID_HEADER: job_id},
                        message_id=message.message_id,
                        correlation_id=message.correlation_id,
                        content_type=message.content_type,
                        type=message.type,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=message.routing_key or "",
                )
                await message.ack()
                moved += 1
            # Unbound and empty: nothing reaches it any more (quorum queues have no if-empty
            # delete; a message published to it by name meanwhile is counted and logged).
            deleted = await queue.delete(if_unused=False, if_empty=False)
            if deleted.message_count:
                log.error("legacy_queue.deleted_with_messages", lost=deleted.message_count)
        except AMQPError as exc:  # another replica drained or deleted it meanwhile
            log.warning("legacy_queue.drain_stopped", moved=moved, error=str(exc)[:300])
            return moved
    log.info("legacy_queue.drained", queue=routing.STATUS_QUEUE, moved=moved)
    return moved


def _job_id(message: AbstractIncomingMessage) -> str | None:
    try:
        job_id = json.loads(message.body).get("job_id")
    except (ValueError, AttributeError):
        return None
    return job_id if isinstance(job_id, str) and job_id else None
