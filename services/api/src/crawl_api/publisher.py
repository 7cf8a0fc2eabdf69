"""Publishing commands with publisher confirms.

A command is only reported as published once RabbitMQ confirmed it *and* routed it to at
least one queue (``mandatory`` with returns raised): a ``202`` never stands for a command that
went nowhere. At start-up the API declares the exchange and the work queue it publishes to
(``crawler.requests``), with the same arguments its consumers use, and the status partitions,
so a command published before any crawler ever ran waits in its queue.
"""

from __future__ import annotations

from typing import Any

from faststream.rabbit import Channel, RabbitBroker

from crawl_contracts import routing
from crawl_runtime.publish import publish_message
from crawl_runtime.topology import crawl_exchange, declare_status_partitions, work_queue

__all__ = ["CommandPublisher", "PublishError"]


class PublishError(Exception):
    """The broker did not confirm the command."""


class CommandPublisher:
    def __init__(self, url: str, *, timeout: float) -> None:
        self.broker = RabbitBroker(
            url,
            default_channel=Channel(publisher_confirms=True, on_return_raises=True),
            logger=None,
            fail_fast=True,
        )
        self._timeout = timeout

    async def connect(self) -> None:
        await self.broker.connect()
        exchange = await self.broker.declare_exchange(crawl_exchange())
        # Only the queue its commands go to: the render and extraction request queues are the
        # crawlers' (which ask) to declare, and to replace when an earlier version declared
        # one otherwise (crawler.extract was a quorum queue).
        name = routing.CRAWLER_REQUESTS_QUEUE
        queue = await self.broker.declare_queue(work_queue(name))
        await queue.bind(exchange, routing_key=routing.WORK_QUEUE_BINDINGS[name])
        await declare_status_partitions(self.broker)

    async def close(self) -> None:
        await self.broker.stop()

    async def publish(self, command: Any) -> None:
        try:
            await publish_message(
                self.broker,
                command,
                correlation_id=command.correlation_id or command.message_id,
                confirm_timeout=self._timeout,
            )
        except Exception as exc:
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc

    async def ping(self) -> bool:
        return bool(await self.broker.ping(timeout=2.0))
