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

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from faststream.rabbit import RabbitBroker

from crawl_contracts import CrawlRequested, PageRendered, RenderPoliteness, RenderRequested, routing
from crawl_worker.rendering import RendererUnavailableError
from crawl_worker.replies import ReplyChannel

__all__ = ["JobRenderer", "RenderClient"]


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
        self._timeout = timeout
        self._channel = ReplyChannel(
            broker,
            reply_type=PageRendered,
            queue=routing.RENDERER_REQUESTS_QUEUE,
            routing_key=routing.RENDER_ROUTING_KEY,
            reply_queue=f"{routing.RENDER_REPLY_QUEUE_PREFIX}.{worker_id}",
            kind="render",
            timeout=timeout,
            check_interval=check_interval,
            clock=clock,
        )
        self.reply_queue = self._channel.reply_queue

    def register(self) -> None:
        self._channel.register("Renderers' answers to this instance's render requests.")

    def answered(self, correlation_id: str | None, body: bytes) -> None:
        """Hand a reply to the request waiting for it (a late one finds nobody)."""
        self._channel.answered(correlation_id, body)

    async def start(self) -> None:
        """Declare ``renderer.requests`` (bound as the renderers bind it), so a request
        published while the renderers restart waits in it."""
        await self._channel.start()

    async def available(self) -> bool:
        """Whether a renderer consumes the queue (asked at most every ``check_interval``)."""
        return await self._channel.consumers() > 0

    async def render(
        self,
        command: CrawlRequested,
        url: str,
        body: bytes,
        content_type: str,
        politeness: RenderPoliteness,
    ) -> PageRendered:
        """The renderer's answer for ``url``; one carrying an ``error`` if none came in time."""
        if not self._channel.started or not await self.available():
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
        try:
            return await self._channel.ask(request)
        except TimeoutError:
            return PageRendered(
                job_id=command.job_id,
                url=url,
                error=f"no renderer answered within {self._timeout:g} s",
            )
        except ValueError as exc:  # an unreadable reply
            return PageRendered(job_id=command.job_id, url=url, error=str(exc))


class JobRenderer:
    """The render port of one crawl: the client, with the job's politeness."""

    def __init__(self, client: RenderClient, politeness: RenderPoliteness) -> None:
        self._client = client
        self._politeness = politeness

    async def render(
        self, command: CrawlRequested, url: str, body: bytes, content_type: str
    ) -> PageRendered:
        return await self._client.render(command, url, body, content_type, self._politeness)
