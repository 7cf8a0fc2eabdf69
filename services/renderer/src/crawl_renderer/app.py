"""Composition root of the renderer: ``create_app(settings)`` builds, nothing runs."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import structlog
from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from faststream.rabbit.message import RabbitMessage  # the class, not the annotation

from crawl_contracts import CrawlCancelRequested, PageRendered, RenderRequested, routing
from crawl_netguard import AddressPolicy, pinned_transport
from crawl_renderer import observability
from crawl_renderer.browser import BrowserPool
from crawl_renderer.gates import JobGates
from crawl_renderer.render import PageLimits, PageRenderer
from crawl_renderer.settings import RendererSettings
from crawl_renderer.subrequests import Subrequests
from crawl_runtime.bodies import undecoded
from crawl_runtime.replies import accepted, answer
from crawl_runtime.topology import crawl_exchange, declare_dead_letters, work_queue

__all__ = ["RendererService", "create_app"]

log = structlog.get_logger("crawl_renderer")

_CANCELLED_KEPT = 600.0  # seconds a cancelled job's later requests are still dropped


def cancel_queue(renderer_id: str) -> RabbitQueue:
    """This instance's own queue for cancel broadcasts: every renderer hears every cancel."""
    return RabbitQueue(
        f"renderer.cancel.{renderer_id}",
        auto_delete=True,
        exclusive=True,
        durable=False,
        routing_key=routing.routing_key("CrawlCancelRequested"),
    )


class RendererService:
    """The running parts of one renderer instance."""

    def __init__(self, settings: RendererSettings) -> None:
        self.settings = settings
        self.renderer_id = settings.renderer_id or f"{socket.gethostname()}-{os.getpid()}"
        self.broker = RabbitBroker(settings.rabbitmq_url, logger=None)
        self.pool = BrowserPool(
            settings.chromium_path,
            settings.pages_per_browser,
            pages_per_context=settings.pages_per_context,
            context_idle=settings.context_idle,
            max_idle_contexts=2 * settings.concurrency,
            context_options={"user_agent": settings.user_agent},
        )
        self.gates = JobGates()
        self._client: httpx.AsyncClient | None = None
        self._renderer: PageRenderer | None = None
        self._rendering: dict[str, set[asyncio.Task[PageRendered]]] = {}  # by job
        self._cancelled: dict[str, float] = {}  # job -> when its cancel was heard
        self._register()

    def _register(self) -> None:
        # As many deliveries at once as pages rendered at once: each one is a page in flight.
        @self.broker.subscriber(
            work_queue(routing.RENDERER_REQUESTS_QUEUE),
            crawl_exchange(),
            channel=Channel(prefetch_count=self.settings.concurrency),
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            decoder=undecoded,
            title="renderer.requests",
            description="Render requests; each is answered to its reply_to, then acked.",
        )
        async def on_render() -> None:
            message = self.broker.context.get_local("message")
            assert isinstance(message, RabbitMessage)
            await self.handle(message)

        @self.broker.subscriber(
            cancel_queue(self.renderer_id),
            crawl_exchange(),
            ack_policy=AckPolicy.ACK_FIRST,
            no_reply=True,
            title="renderer.cancel",
            description="Cancel broadcasts; each instance stops rendering the job's pages.",
        )
        async def on_cancel(command: CrawlCancelRequested) -> None:
            self.cancel(command.job_id)

    def cancel(self, job_id: str) -> None:
        """Stop rendering ``job_id``'s pages now, and drop its requests still queued (its
        crawler waits for none of them any more)."""
        now = time.monotonic()
        for job in [j for j, at in self._cancelled.items() if now - at > _CANCELLED_KEPT]:
            del self._cancelled[job]
        self._cancelled[job_id] = now
        for task in self._rendering.get(job_id, ()):
            task.cancel()
        self.pool.retire(job_id)

    async def handle(self, message: RabbitMessage) -> None:
        """Validate, render and answer one request; a bad one is dead-lettered with why."""
        structlog.contextvars.bind_contextvars(message_id=message.message_id)
        read = await accepted(
            self.broker,
            message,
            routing.RENDERER_REQUESTS_QUEUE,
            RenderRequested,
            "a render request",
        )
        if read is None:
            return
        request, reply_to = read
        structlog.contextvars.bind_contextvars(job_id=request.job_id, tenant=request.tenant)
        if request.deadline <= datetime.now(UTC) or request.job_id in self._cancelled:
            # Its crawler stopped waiting (and recorded the page from its fetched HTML).
            cancelled = request.job_id in self._cancelled
            observability.PAGES.labels("cancelled" if cancelled else "expired").inc()
            log.info("render.dropped", url=request.url[:300], cancelled=cancelled)
            await message.ack()
            return
        task = asyncio.create_task(self._render(request))
        running = self._rendering.setdefault(request.job_id, set())
        running.add(task)
        try:
            reply = await task
        except asyncio.CancelledError:
            if request.job_id not in self._cancelled:
                raise  # this handler itself was cancelled (shutdown)
            observability.PAGES.labels("cancelled").inc()
            log.info("render.cancelled", url=request.url[:300])
            await message.ack()
            return
        finally:
            running.discard(task)
            if not running:
                self._rendering.pop(request.job_id, None)
        await answer(self.broker, message, reply_to, reply, request.url)
        await message.ack()

    async def _render(self, request: RenderRequested) -> PageRendered:
        assert self._renderer is not None, "start_resources() first"
        gate = self.gates.gate(request.job_id, request.politeness)
        started = time.monotonic()
        observability.RENDERING.inc()
        launched = self.pool.launched
        try:
            reply = await self._renderer.render(request, gate)
        except Exception as exc:  # answered, never left waiting for its deadline
            log.exception("render.crashed", url=request.url[:300])
            reply = PageRendered(
                job_id=request.job_id,
                url=request.url,
                error=f"renderer error: {exc!r}"[:500],
                renderer_id=self.renderer_id,
            )
        finally:
            observability.RENDERING.dec()
        observability.BROWSERS.inc(self.pool.launched - launched)
        observability.RENDER_SECONDS.observe(time.monotonic() - started)
        observability.PAGES.labels("rendered" if reply.html is not None else "error").inc()
        observability.BLOCKED.inc(sum(1 for b in reply.blocked if b.url != "(more)"))
        log.info(
            "render.answered",
            url=request.url[:300],
            rendered=reply.html is not None,
            error=reply.error,
            blocked=len(reply.blocked),
            requests=reply.requests,
            seconds=reply.seconds,
        )
        return reply

    async def start_resources(self) -> None:
        s = self.settings
        policy = AddressPolicy(s.allowed_networks)
        connections = s.concurrency * 8
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(s.read_timeout, connect=s.connect_timeout),
            headers={"User-Agent": s.user_agent},
            # Every connection goes to an address the policy admitted at connect time.
            transport=pinned_transport(
                policy.permits,
                limits=httpx.Limits(
                    max_connections=connections, max_keepalive_connections=connections
                ),
            ),
            trust_env=False,
        )
        await self.pool.start()
        observability.BROWSERS.inc()
        self._renderer = PageRenderer(
            self.pool,
            Subrequests(self._client, policy, max_bytes=s.max_resource_bytes),
            PageLimits(
                timeout=s.page_timeout,
                idle_wait=s.idle_wait,
                quiet_window=s.quiet_window,
                max_requests=s.max_requests_per_page,
                max_html_bytes=s.max_html_bytes,
            ),
            renderer_id=self.renderer_id,
        )

    async def connect(self) -> None:
        """Connect to the broker and declare the work queue's dead letters."""
        await self.broker.connect()
        await declare_dead_letters(self.broker, routing.RENDERER_REQUESTS_QUEUE)

    async def broker_ping(self) -> bool:
        return bool(await self.broker.ping(timeout=2.0))

    async def close(self) -> None:
        await self.pool.close()
        if self._client is not None:
            await self._client.aclose()


def create_app(settings: RendererSettings) -> tuple[FastStream, RendererService]:
    """Build the FastStream application and the service it runs."""
    service = RendererService(settings)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        # The browser first: a renderer that cannot launch one must not take requests.
        await service.start_resources()
        await service.connect()
        probes = observability.server_for(
            settings, {"broker": service.broker_ping, "browser": service.pool.ready}
        )
        await probes.start()
        log.info("renderer.ready", renderer_id=service.renderer_id)
        try:
            yield
        finally:
            await probes.stop()
            await service.close()

    return FastStream(service.broker, lifespan=lifespan, logger=None), service
