"""Change notices for API processes (see ``crawl_contracts.changes``).

Published on a connection of their own, on a channel without publisher confirms: a notice is
a hint that may be lost, and confirming each one would cost a broker round trip per batch the
projection commits. The projection never waits for a notice.
"""

from __future__ import annotations

import asyncio

import aio_pika
import structlog
from aio_pika.abc import AbstractExchange, AbstractRobustConnection

from crawl_contracts import CHANGES_EXCHANGE, JobChanged

__all__ = ["ChangeNotifier"]

log = structlog.get_logger("crawl_status.changes")

_MAX_IN_FLIGHT = 1000  # beyond this many unsent notices, drop new ones


class ChangeNotifier:
    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._sending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect; without a broker, notices are skipped (long polls fall back to reads)."""
        try:
            self._connection = await aio_pika.connect_robust(self._url)
            channel = await self._connection.channel(publisher_confirms=False)
            self._exchange = await channel.declare_exchange(
                CHANGES_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
            )
        except Exception as exc:
            log.warning("change_notices.unavailable", error=str(exc))

    def notify(self, change: JobChanged) -> None:
        if self._exchange is None or len(self._sending) >= _MAX_IN_FLIGHT:
            return
        task = asyncio.create_task(self._send(self._exchange, change))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, exchange: AbstractExchange, change: JobChanged) -> None:
        message = aio_pika.Message(
            change.model_dump_json().encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
        )
        try:
            await exchange.publish(message, routing_key="")
        except Exception as exc:  # a lost notice only delays a long poll to its next read
            log.debug("change_notice.failed", job_id=change.job_id, error=str(exc))

    async def close(self) -> None:
        for task in self._sending:
            task.cancel()
        if self._connection is not None:
            await self._connection.close()
