"""RabbitMQ objects only the crawler has: its cancel broadcast queue, and the extra routes of
its work queue. The shared exchange, work queues and dead letters are
:mod:`crawl_runtime.topology`'s."""

from __future__ import annotations

from faststream.rabbit import RabbitBroker, RabbitQueue

from crawl_contracts import routing
from crawl_runtime.topology import crawl_exchange, work_queue

__all__ = ["bind_extra_routes", "cancel_queue"]


def cancel_queue(worker_id: str) -> RabbitQueue:
    """This instance's own queue for cancel broadcasts: every crawler hears every cancel."""
    return RabbitQueue(
        f"crawler.cancel.{worker_id}",
        auto_delete=True,
        exclusive=True,
        durable=False,
        routing_key=routing.routing_key("CrawlCancelRequested"),
    )


async def bind_extra_routes(broker: RabbitBroker) -> None:
    """Bind ``crawler.requests`` to the other commands it serves (resumes of stalled jobs)."""
    exchange = await broker.declare_exchange(crawl_exchange())
    queue = await broker.declare_queue(work_queue(routing.CRAWLER_REQUESTS_QUEUE))
    for key in routing.CRAWLER_EXTRA_BINDINGS:
        await queue.bind(exchange, routing_key=key)
