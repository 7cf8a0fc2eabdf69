"""Composition root of the status service: ``create_app(settings)`` builds, nothing runs."""

from __future__ import annotations

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
from crawl_status import observability
from crawl_status.settings import StatusSettings
from crawl_status.store import ProjectionStore
from crawl_status.topology import crawl_exchange, declare_dead_letters, work_queue

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
            observability.rejected()
            raise RejectMessage from exc
        structlog.contextvars.bind_contextvars(job_id=message.job_id, tenant=message.tenant)
        await self.store.apply(message)
        observability.projected(message)

    async def start_dependencies(self) -> None:
        await self.store.ensure_indexes()
        await declare_dead_letters(self.broker, routing.STATUS_QUEUE)

    async def close(self) -> None:
        await self.mongo.close()


def create_app(settings: StatusSettings) -> tuple[FastStream, StatusService]:
    """Build the FastStream application and the service it runs."""
    service = StatusService(settings)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await service.broker.connect()
        await service.start_dependencies()
        probes = observability.server_for(settings, service.broker, service.mongo)
        await probes.start()
        log.info("status.ready")
        try:
            yield
        finally:
            await probes.stop()
            await service.close()

    return FastStream(service.broker, lifespan=lifespan, logger=None), service
