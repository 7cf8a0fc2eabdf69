"""Request/reply over the broker, the one way a crawler asks another service for work and
waits for its answer (renders: ``renderclient``; extractions: ``extractclient``).

A crawler instance has an exclusive reply queue per kind of request (``<prefix>.<worker id>``).
``ask`` publishes a request to the crawl exchange under the kind's routing key with that queue
as ``reply_to`` and the request's id as ``correlation_id`` (not persistent: worth nothing once
its crawler stopped waiting), and waits for the matching reply, at most ``timeout`` seconds.
Many requests are in flight at once; a cancelled wait just forgets its request, and a late
reply finds nobody. ``consumers`` asks the broker how many consume the work queue, at most
every ``check_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import structlog
from faststream import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.message import RabbitMessage
from pydantic import BaseModel, ValidationError

from crawl_contracts import Envelope, routing
from crawl_runtime.bodies import undecoded
from crawl_runtime.topology import crawl_exchange, work_queue

__all__ = ["ReplyChannel"]

log = structlog.get_logger("crawl_worker.replies")

ReplyT = TypeVar("ReplyT", bound=BaseModel)


class ReplyChannel(Generic[ReplyT]):
    """Requests to the ``queue`` work queue (bound under ``routing_key``) and their replies
    (``register`` before the broker starts, ``start`` once it is connected)."""

    def __init__(
        self,
        broker: RabbitBroker,
        *,
        reply_type: type[ReplyT],
        queue: str,
        routing_key: str,
        reply_queue: str,
        kind: str,
        timeout: float,
        check_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broker = broker
        self._reply_type = reply_type
        self._queue_name = queue
        self._routing_key = routing_key
        self._kind = kind  # "render", "extract": names its log lines and reply subscriber
        self._timeout = timeout
        self._check_interval = check_interval
        self._clock = clock
        self._pending: dict[str, asyncio.Future[ReplyT]] = {}
        self._queue: Any = None  # aio-pika's queue object of the work queue
        self._checked_at: float | None = None
        self._consumers = 0
        self.reply_queue = RabbitQueue(reply_queue, exclusive=True, auto_delete=True, durable=False)

    @property
    def started(self) -> bool:
        return self._queue is not None

    @property
    def pending(self) -> int:
        """Requests waiting for their reply now."""
        return len(self._pending)

    def register(self, description: str) -> None:
        @self._broker.subscriber(
            self.reply_queue,
            ack_policy=AckPolicy.ACK_FIRST,
            no_reply=True,
            decoder=undecoded,
            title=f"crawler.{self._kind}-replies",
            description=description,
        )
        async def on_reply() -> None:
            message = self._broker.context.get_local("message")
            assert isinstance(message, RabbitMessage)
            self.answered(message.correlation_id, message.body)

    def answered(self, correlation_id: str | None, body: bytes) -> None:
        """Hand a reply to the request waiting for it (a late one finds nobody)."""
        waiting = self._waiting(correlation_id)
        if waiting is None:
            return
        try:
            waiting.set_result(self._reply_type.model_validate_json(body))
        except ValidationError as exc:
            waiting.set_exception(ValueError(f"unreadable {self._kind} reply: {exc}"[:500]))

    def resolved(self, correlation_id: str | None, reply: ReplyT) -> None:
        """Hand a reply made in this process to the request waiting for it: no round trip
        through the broker (a late one finds nobody)."""
        waiting = self._waiting(correlation_id)
        if waiting is not None:
            waiting.set_result(reply)

    def _waiting(self, correlation_id: str | None) -> asyncio.Future[ReplyT] | None:
        waiting = self._pending.get(correlation_id or "")
        if waiting is None or waiting.done():
            log.debug("reply.unclaimed", kind=self._kind, correlation_id=correlation_id)
            return None
        return waiting

    async def start(self) -> None:
        """Declare the work queue (``work_queue``: a quorum queue, or a classic one for
        ``routing.CLASSIC_WORK_QUEUES``), bound as its consumers bind it, so a request
        published while they restart waits in it."""
        exchange = await self._broker.declare_exchange(crawl_exchange())
        self._queue = await self._broker.declare_queue(work_queue(self._queue_name))
        await self._queue.bind(exchange, routing_key=self._routing_key)

    async def consumers(self) -> int:
        """How many consume the work queue (asked of the broker at most every
        ``check_interval``; 0 when the broker would not say)."""
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self._check_interval:
            self._checked_at = now
            try:
                declared = await asyncio.wait_for(self._queue.declare(), 5)
                self._consumers = int(declared.consumer_count)
            except Exception as exc:
                log.warning("consumers.unknown", queue=self._queue_name, error=str(exc)[:300])
                self._consumers = 0
        return self._consumers

    async def ask(self, request: Envelope) -> ReplyT:
        """Publish ``request`` and wait for its reply. Raises ``TimeoutError`` past the
        channel's ``timeout``, ``ValueError`` for an unreadable reply, and whatever publishing
        raised."""
        waiting: asyncio.Future[ReplyT] = asyncio.get_running_loop().create_future()
        self._pending[request.message_id] = waiting
        try:
            async with asyncio.timeout(self._timeout):
                await self._broker.publish(
                    request.model_dump_json().encode(),
                    exchange=routing.EXCHANGE,
                    routing_key=self._routing_key,
                    reply_to=self.reply_queue.name,
                    correlation_id=request.message_id,
                    message_id=request.message_id,
                    content_type="application/json",
                    message_type=request.type,
                    persist=False,  # worth nothing once its crawler stopped waiting
                )
                return await waiting
        finally:  # also when the wait is cancelled: its reply, if any, finds nobody
            self._pending.pop(request.message_id, None)
