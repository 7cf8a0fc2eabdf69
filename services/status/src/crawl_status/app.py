"""Composition root of the status service: ``create_app(settings)`` builds, nothing runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from faststream import AckPolicy, FastStream
from faststream.exceptions import RejectMessage
from faststream.rabbit import Channel, RabbitBroker, RabbitMessage
from pydantic import ValidationError
from pymongo import AsyncMongoClient

from crawl_contracts import UnknownMessageError, parse_message, routing
from crawl_status.settings import StatusSettings
from crawl_status.store import ProjectionStore
from crawl_status.topology import crawl_exchange, declare_dead_letters, work_queue
from crawl_status.webhooks import WebhookDispatcher, WebhookOutbox

__all__ = ["StatusService", "create_app"]

log = structlog.get_logger("crawl_status")


class StatusService:
    """The running parts of the status service, reachable from tests."""

    def __init__(self, settings: StatusSettings) -> None:
        self.settings = settings
        self.broker = RabbitBroker(
            settings.rabbitmq_url,
            default_channel=Channel(prefetch_count=settings.prefetch),
            logger=None,
        )
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongodb_url, tz_aware=True, connect=False
        )
        self.store = ProjectionStore(self.mongo[settings.mongodb_database])
        self.webhooks = WebhookOutbox(self.mongo[settings.mongodb_database])
        self.dispatcher = WebhookDispatcher(self.mongo[settings.mongodb_database], settings)
        self._dispatching: asyncio.Task[None] | None = None
        self._register()

    def _register(self) -> None:
        @self.broker.subscriber(
            work_queue(routing.STATUS_QUEUE),
            crawl_exchange(),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title="status.messages",
            description="Every command and event, projected into MongoDB.",
        )
        async def project(message: RabbitMessage) -> None:
            await self.handle(message.body, message_id=message.message_id)

    async def handle(self, body: bytes, *, message_id: str | None = None) -> None:
        """Validate and project one message body. Bad input is dead-lettered, not retried."""
        structlog.contextvars.bind_contextvars(message_id=message_id)
        try:
            message = parse_message(body)
        except (UnknownMessageError, ValidationError) as exc:
            log.warning("message.rejected", reason=str(exc)[:500])
            raise RejectMessage from exc
        structlog.contextvars.bind_contextvars(job_id=message.job_id, tenant=message.tenant)
        await self.store.apply(message)
        await self.webhooks.enqueue(message)
        log.debug("message.projected", type=message.type, seq=message.seq)

    async def start_dependencies(self) -> None:
        await self.store.ensure_indexes()
        await declare_dead_letters(self.broker, routing.STATUS_QUEUE)
        await self.webhooks.ensure_indexes()

    def start_webhooks(self) -> None:
        """Start delivering webhooks in the background (until ``close``)."""
        self._dispatching = asyncio.create_task(self.dispatcher.run(), name="webhooks")

    async def close(self) -> None:
        if self._dispatching is not None:
            self._dispatching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatching
        await self.dispatcher.close()
        await self.mongo.close()


def create_app(settings: StatusSettings) -> tuple[FastStream, StatusService]:
    """Build the FastStream application and the service it runs."""
    service = StatusService(settings)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await service.broker.connect()
        await service.start_dependencies()
        service.start_webhooks()
        log.info("status.ready")
        try:
            yield
        finally:
            await service.close()

    return FastStream(service.broker, lifespan=lifespan, logger=None), service
