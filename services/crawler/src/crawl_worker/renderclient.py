"""Asking the renderer service to render a page: request/reply over the broker.

A crawler instance has its own exclusive reply queue (``crawler.render-replies.<worker id>``).
``render`` publishes a ``RenderRequested`` to the crawl exchange under
``routing.RENDER_ROUTING_KEY`` with that queue as ``reply_to`` and the request's id as
``correlation_id``, and waits for the matching ``PageRendered``, at most ``timeout`` seconds
(the request's ``deadline``: a renderer drops it past then). Many requests are in flight at
once; a cancelled wait (a cancelled crawl) just forgets its request.

Whether any renderer consumes ``renderer.requests`` is asked of the broker (the queue's
consumer count) at most every ``check_interval`` seconds: without one, ``render`` raises
``RendererUnavailableError`` at once instead of waiting out the timeout for every page, and a
crawler without renderers keeps crawling at its own pace.

Exceptions::

    RendererUnavailableError   no renderer consumes the queue (or the broker would not say)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.message import RabbitMessage
from pydantic import ValidationError

from crawl_contracts import CrawlRequested, PageRendered, RenderPoliteness, RenderRequested, routing
from crawl_runtime.topology import crawl_exchange, work_queue
from crawl_worker.rendering import RendererUnavailableError

__all__ = ["JobRenderer", "RenderClient"]

log = structlog.get_logger("crawl_worker.renderclient")


class RenderClient:
    """One crawler instance's requests to the renderers (``register`` before the broker
    starts, ``start`` once it is connected)."""

    def __init__(
        self,
        broker: RabbitBroker,
        worker_id: str,
        *,
        timeout: float,
        check_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broker = broker
        self._timeout = timeout
        self._check_interval = check_interval
        self._clock = clock
        self._pending: dict[str, asyncio.Future[PageRendered]] = {}
        self._queue: Any = None  # aio-pika's queue object of renderer.requests
        self._checked_at: float | None = None
        self._consumers = 0
        self.reply_queue = RabbitQueue(
            f"{routing.RENDER_REPLY_QUEUE_PREFIX}.{worker_id}",
            exclusive=True,
            auto_delete=True,
            durable=False,
        )

    def register(self) -> None:
        @self._broker.subscriber(
            self.reply_queue,
            ack_policy=AckPolicy.ACK_FIRST,
            no_reply=True,
            title="crawler.render-replies",
            description="Renderers' answers to this instance's render requests.",
        )
        async def on_reply() -> None:
            message = self._broker.context.get_local("message")
            assert isinstance(message, RabbitMessage)
            self.answered(message.correlation_id, message.body)

    def answered(self, correlation_id: str | None, body: bytes) -> None:
        """Hand a reply to the request waiting for it (a late one finds nobody)."""
        waiting = self._pending.get(correlation_id or "")
        if waiting is None or waiting.done():
            log.debug("render.reply_unclaimed", correlation_id=correlation_id)
            return
        try:
            waiting.set_result(PageRendered.model_validate_json(body))
        except ValidationError as exc:
            waiting.set_exception(ValueError(f"unreadable render reply: {exc}"[:500]))

    async def start(self) -> None:
        """Declare ``renderer.requests`` (bound as the renderers bind it), so a request
        published while the renderers restart waits in it."""
        exchange = await self._broker.declare_exchange(crawl_exchange())
        self._queue = await self._broker.declare_queue(work_queue(routing.RENDERER_REQUESTS_QUEUE))
        await self._queue.bind(exchange, routing_key=routing.RENDER_ROUTING_KEY)

    async def available(self) -> bool:
        """Whether a renderer consumes the queue (asked at most every ``check_interval``)."""
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self._check_interval:
            self._checked_at = now
            try:
                declared = await asyncio.wait_for(self._queue.declare(), 5)
                self._consumers = int(declared.consumer_count)
            except Exception as exc:
                log.warning("render.consumers_unknown", error=str(exc)[:300])
                self._consumers = 0
        return self._consumers > 0

    async def render(
        self,
        command: CrawlRequested,
        url: str,
        body: bytes,
        content_type: str,
        politeness: RenderPoliteness,
    ) -> PageRendered:
        """The renderer's answer for ``url``; one carrying an ``error`` if none came in time."""
        if self._queue is None or not await self.available():
            raise RendererUnavailableError("no renderer is running")
        request = RenderRequested(
            job_id=command.job_id,
            tenant=command.tenant,
            correlation_id=command.message_id,
            attempt=command.attempt,
            url=url,
            body=body,
            content_type=content_type,
            politeness=politeness,
            deadline=datetime.now(UTC) + timedelta(seconds=self._timeout),
        )
        waiting: asyncio.Future[PageRendered] = asyncio.get_running_loop().create_future()
        self._pending[request.message_id] = waiting
        try:
            async with asyncio.timeout(self._timeout):
                await self._broker.publish(
                    request.model_dump_json().encode(),
                    exchange=routing.EXCHANGE,
                    routing_key=routing.RENDER_ROUTING_KEY,
                    reply_to=self.reply_queue.name,
                    correlation_id=request.message_id,
                    message_id=request.message_id,
                    content_type="application/json",
                    message_type=request.type,
                    persist=False,  # worth nothing once its crawler stopped waiting
                )
                return await waiting
        except TimeoutError:
            return PageRendered(
                job_id=command.job_id,
                url=url,
                error=f"no renderer answered within {self._timeout:g} s",
            )
        except ValueError as exc:  # an unreadable reply
            return PageRendered(job_id=command.job_id, url=url, error=str(exc))
        finally:
            self._pending.pop(request.message_id, None)


class JobRenderer:
    """The render port of one crawl: the client, with the job's politeness."""

    def __init__(self, client: RenderClient, politeness: RenderPoliteness) -> None:
        self._client = client
        self._politeness = politeness

    async def render(
        self, command: CrawlRequested, url: str, body: bytes, content_type: str
    ) -> PageRendered:
        return await self._client.render(command, url, body, content_type, self._politeness)
