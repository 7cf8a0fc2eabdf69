"""What the dashboard asks of RabbitMQ: cancel a run, count dead letters.

Cancelling publishes ``CrawlCancelRequested`` through the API's confirming publisher: the
crawlers stop the job (each hears the broadcast) and the status service projects
``cancelling`` then ``cancelled``.
"""

from __future__ import annotations

import asyncio
import uuid

import structlog
from faststream.rabbit import QueueType, RabbitQueue

from crawl_api.publisher import CommandPublisher, PublishError
from crawl_api.store import JobStore
from crawl_contracts import CrawlCancelRequested, CrawlRequest, CrawlRequested, routing

__all__ = ["DEAD_LETTER_QUEUES", "dead_letter_counts", "request_cancel", "submit_crawl"]

log = structlog.get_logger("crawl_api.dashboard")

DEAD_LETTER_QUEUES = tuple(
    routing.dead_letter_queue(q) for q in (routing.CRAWLER_REQUESTS_QUEUE, routing.STATUS_QUEUE)
)


async def submit_crawl(
    store: JobStore, publisher: CommandPublisher, request: CrawlRequest, tenant: str, user: str
) -> str:
    """Record the job as pending and publish ``CrawlRequested``, exactly as the REST route does;
    returns the job id. Raises ``PublishError`` (and forgets the job) if the broker refused."""
    command = CrawlRequested(
        job_id=str(uuid.uuid4()), tenant=tenant, request=request, submitted_by=user
    )
    await store.record_pending(command)
    try:
        await publisher.publish(command)
    except PublishError:
        await store.forget_pending(command.job_id)
        raise
    log.info("crawl.accepted", job_id=command.job_id, tenant=tenant, url=request.url)
    return command.job_id


async def request_cancel(
    publisher: CommandPublisher, job_id: str, tenant: str, user: str
) -> CrawlCancelRequested:
    """Publish the cancel command; raises ``PublishError`` if the broker did not confirm."""
    command = CrawlCancelRequested(job_id=job_id, tenant=tenant, requested_by=user)
    await publisher.publish(command)
    log.info("crawl.cancel_requested", job_id=job_id, tenant=tenant, message_id=command.message_id)
    return command


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
