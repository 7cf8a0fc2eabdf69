"""Composition root of the status service: ``create_app(settings)`` builds, nothing runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import structlog
from faststream import AckPolicy, FastStream
from faststream.exceptions import RejectMessage
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.message import RabbitMessage  # the class, not the annotation
from pydantic import ValidationError
from pymongo import AsyncMongoClient

from crawl_contracts import (
    CrawlReleased,
    Envelope,
    Message,
    PagesRecorded,
    UnknownMessageError,
    UrlsSkipped,
    parse_message,
    routing,
)
from crawl_contracts.envelope import utcnow
from crawl_runtime.bodies import undecoded
from crawl_runtime.deadletters import dead_letter
from crawl_runtime.publish import publish_message, republish
from crawl_runtime.topology import (
    dead_letter_exchange,
    declare_dead_letters,
    declare_status_partitions,
    status_partition_exchange,
    status_partition_queue,
)
from crawl_schema import ensure_indexes, names
from crawl_status import observability
from crawl_status.changes import ChangeNotifier
from crawl_status.deadletters import DeadLetterRecorder
from crawl_status.legacy import drain_legacy_queue
from crawl_status.retention import Retention
from crawl_status.scheduler import Scheduler
from crawl_status.settings import StatusSettings
from crawl_status.stall import StallDetector
from crawl_status.store import ProjectionStore
from crawl_status.topology import bind_dead_letter_copies, dead_letter_copies
from crawl_status.webhooks import WebhookDispatcher, WebhookOutbox

__all__ = ["StatusService", "create_app"]

log = structlog.get_logger("crawl_status")

# The collections this service writes (or sweeps), whose indexes it creates at start.
_WRITTEN = (
    names.CRAWLS,
    names.PAGES,
    names.LOGS,
    names.WEBHOOK_DELIVERIES,
    names.DEAD_LETTERS,
    names.STALL_MARKS,
    names.IDEMPOTENCY_KEYS,
    names.CRAWLER_LEASES,
    names.SCHEDULE_FIRES,
    names.SCHEDULE_TIMERS,
)
_IDLE_AFTER = 1.0  # seconds without a message after which the projection counts as caught up


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
        self.database = database = self.mongo[settings.mongodb_database]
        self.changes = ChangeNotifier(settings.rabbitmq_url)
        self.stalls = StallDetector(
            database,
            self.publish,
            stall_after=settings.stall_after,
            max_attempts=settings.max_attempts,
        )
        self.store = ProjectionStore(
            database,
            retention=timedelta(seconds=settings.retention),
            on_change=self.changes.notify,
        )
        self.retention = Retention(database)
        self.dead_letters = DeadLetterRecorder(database, self.publish)
        self.scheduler = Scheduler(
            database,
            self.publish,
            instance=f"{socket.gethostname()}:{os.getpid()}",
            retention=timedelta(seconds=settings.retention),
            claim_grace=settings.schedule_claim_grace,
        )
        self._loops: list[asyncio.Task[None]] = []
        # The projection's own clock: the latest ``occurred_at`` applied, and when a message
        # last arrived. Silence is measured on it while messages are flowing, so a backlog in
        # this service is never mistaken for a silent crawler.
        self._applied_until: datetime | None = None
        self._last_arrival = 0.0
        self.webhooks = WebhookOutbox(database)
        self.dispatcher = WebhookDispatcher(database, settings)
        self._dispatching: asyncio.Task[None] | None = None
        self._register()

    def _register(self) -> None:
        # Every partition, in an order of this replica's own: replicas started together
        # become the active consumer of different partitions (see crawl_status.topology).
        partitions = random.sample(range(routing.STATUS_PARTITIONS), routing.STATUS_PARTITIONS)
        for partition in partitions:
            self._register_partition(partition)

        @self.broker.subscriber(
            dead_letter_copies(),
            dead_letter_exchange(),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title="status.dead-letters",
            description="A copy of every dead letter, filed against its job.",
        )
        async def record_dead_letter() -> None:
            message = self._current_message()
            await self.dead_letters.record(
                message.body, dict(message.headers or {}), message.message_id, utcnow()
            )

    def _register_partition(self, partition: int) -> None:
        @self.broker.subscriber(
            status_partition_queue(partition),
            status_partition_exchange(),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=undecoded,
            title=f"status.messages.{partition}",
            description=(
                "Every command and event of the jobs hashed onto this partition, projected "
                "into MongoDB by the one replica consuming it."
            ),
        )
        async def project() -> None:
            # The message comes from the context rather than a `message: RabbitMessage`
            # parameter: FastStream resolves such a parameter on a worker thread, one thread
            # hop per message on the service's busiest path.
            message = self._current_message()
            try:
                if routing.JOB_ID_HEADER not in (message.headers or {}):
                    await self._to_its_partition(message)
                    return
                await self.handle(message.body, message_id=message.message_id)
            except RejectMessage as exc:
                await dead_letter(
                    self.broker, message, routing.STATUS_QUEUE, f"unparseable: {exc.__cause__}"
                )

    async def _to_its_partition(self, message: RabbitMessage) -> None:
        """A message published without its job id header (a command from another service)
        lands on one fixed partition: it is put under its job's header and sent on to its
        job's partition (then acked here). Unparseable: RejectMessage, as in ``handle``."""
        try:
            parsed = parse_message(message.body)
        except (UnknownMessageError, ValidationError) as exc:
            log.warning("message.rejected", reason=str(exc)[:500])
            observability.rejected()
            raise RejectMessage from exc
        await republish(
            self.broker,
            message,
            exchange=routing.STATUS_PARTITION_EXCHANGE,
            routing_key=message.raw_message.routing_key or routing.routing_key(parsed.type),
            headers={**(message.headers or {}), routing.JOB_ID_HEADER: parsed.job_id},
        )
        log.info("message.partitioned", type=parsed.type, job_id=parsed.job_id)

    def _current_message(self) -> RabbitMessage:
        message = self.broker.context.get_local("message")
        assert isinstance(message, RabbitMessage)
        return message

    async def handle(self, body: bytes, *, message_id: str | None = None) -> None:
        """Validate and project one message body. Bad input is dead-lettered, not retried."""
        structlog.contextvars.bind_contextvars(message_id=message_id)
        self._last_arrival = time.monotonic()
        try:
            message = parse_message(body)
        except (UnknownMessageError, ValidationError) as exc:
            log.warning("message.rejected", reason=str(exc)[:500])
            observability.rejected()
            raise RejectMessage from exc
        structlog.contextvars.bind_contextvars(job_id=message.job_id, tenant=message.tenant)
        # A batch (skipped URLs, page records) is projected as the page records it stands
        # for, together (one drain batch: one insert for all of them).
        messages: list[Message] = (
            list(message.records())
            if isinstance(message, UrlsSkipped | PagesRecorded)
            else [message]
        )
        await asyncio.gather(*(self.store.apply(m) for m in messages))
        if isinstance(message, CrawlReleased):  # the next attempt, at once (once per attempt)
            await self.stalls.released(message)
        if self._applied_until is None or message.occurred_at > self._applied_until:
            self._applied_until = message.occurred_at
        for each in messages:
            await self.webhooks.enqueue(each)
            observability.projected(each)

    async def publish(self, message: Envelope) -> None:
        """Publish an event or command this service decided on (confirmed, persistent)."""
        await publish_message(self.broker, message)

    async def start_dependencies(self) -> None:
        traits = await ensure_indexes(self.database, *_WRITTEN)
        # FerretDB accepts TTL indexes but never deletes by them: recognised from buildInfo
        # (``crawl_mongo``), and swept instead.
        self.retention.ttl = self.store.stamp_children = traits.ttl_indexes
        log.info("retention.ready", ttl_indexes=traits.ttl_indexes)
        await self.changes.start()
        await declare_dead_letters(self.broker, routing.STATUS_QUEUE)
        await bind_dead_letter_copies(self.broker)
        await declare_status_partitions(self.broker)
        await drain_legacy_queue(self.settings.rabbitmq_url)

    def start_loops(self) -> None:
        """Stall detection and schedules always (schedules unless switched off); retention
        sweeps where the server has no TTL indexes."""
        s = self.settings
        self._loops.append(asyncio.create_task(_every(s.stall_scan_interval, self._scan)))
        if s.schedules:
            self._loops.append(asyncio.create_task(_every(s.schedule_interval, self._fire)))
        if not self.retention.ttl:
            self._loops.append(asyncio.create_task(_every(s.sweep_interval, self._sweep)))

    def projection_time(self) -> datetime:
        """Now, or, while messages are still arriving, the time the projection has reached."""
        now = utcnow()
        busy = time.monotonic() - self._last_arrival < _IDLE_AFTER
        if busy and self._applied_until is not None:
            return min(now, self._applied_until)
        return now

    async def _scan(self) -> None:
        await self.stalls.scan(self.projection_time())

    async def _fire(self) -> None:
        await self.scheduler.run_due(utcnow())

    async def _sweep(self) -> None:
        await self.retention.sweep(utcnow())

    def start_webhooks(self) -> None:
        """Start delivering webhooks in the background (until ``close``)."""
        self._dispatching = asyncio.create_task(self.dispatcher.run(), name="webhooks")

    async def close(self) -> None:
        await self.changes.close()
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._dispatching is not None:
            self._dispatching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatching
        await self.dispatcher.close()
        await self.mongo.close()


async def _every(interval: float, job: Callable[[], Awaitable[None]]) -> None:
    """Run ``job`` every ``interval`` seconds; an error is logged and the loop goes on."""
    while True:
        await asyncio.sleep(interval)
        try:
            await job()
        except Exception:
            log.exception("loop.failed", job=getattr(job, "__name__", "job"))


def create_app(settings: StatusSettings) -> tuple[FastStream, StatusService]:
    """Build the FastStream application and the service it runs."""
    service = StatusService(settings)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await service.broker.connect()
        await service.start_dependencies()
        probes = observability.server_for(settings, service.broker, service.mongo)
        await probes.start()
        service.start_loops()
        service.start_webhooks()
        log.info("status.ready")
        try:
            yield
        finally:
            await probes.stop()
            await service.close()

    return FastStream(service.broker, lifespan=lifespan, logger=None), service
