"""What the dashboard asks of RabbitMQ beyond the API's own paths: dead-letter counts.

Submitting goes through the API's ``Submitter`` and cancelling through
``crawl_api.cancel.Canceller``, the paths every route shares.
"""

from __future__ import annotations

import asyncio

import structlog
from faststream.rabbit import QueueType, RabbitQueue

from crawl_api.publisher import CommandPublisher
from crawl_contracts import routing

__all__ = ["DEAD_LETTER_QUEUES", "dead_letter_counts"]

log = structlog.get_logger("crawl_api.dashboard")

# Every work queue's: crawler requests, the status partitions (one for all), render and
# extraction requests.
DEAD_LETTER_QUEUES = tuple(routing.dead_letter_queue(q) for q in routing.DEAD_LETTERED_QUEUES)


async def dead_letter_counts(publisher: CommandPublisher) -> dict[str, int | None]:
    """Messages waiting in each dead-letter queue; ``None`` where the broker did not say.

    The queues are declared with the arguments their owners use (an idempotent declaration:
    a passive one would close the publisher's channel when a queue does not exist yet).
    """
    counts: dict[str, int | None] = {}
    for name in DEAD_LETTER_QUEUES:
        try:
            async with asyncio.timeout(2):
                queue = await publisher.broker.declare_queue(
                    RabbitQueue(name, queue_type=QueueType.QUORUM, durable=True)
                )
                counts[name] = (await queue.declare()).message_count
        except Exception as exc:
            log.warning("dead_letters.unavailable", queue=name, error=str(exc)[:200])
            counts[name] = None
    return counts
