"""Asking the crawlers to extract a page: request/reply over the broker.

A crawler instance has its own exclusive reply queue (``crawler.extract-replies.<worker id>``).
``extract`` publishes an ``ExtractRequested`` to the crawl exchange under
``routing.EXTRACT_ROUTING_KEY`` (the ``crawler.extract`` work queue, which every crawler
serves, this one included) with that queue as ``reply_to`` and the request's id as
``correlation_id``, and waits for the matching ``PageExtracted``, at most ``timeout`` seconds
(the request's ``deadline``: a crawler drops it past then). Many requests are in flight at
once; a cancelled wait (a cancelled visit, a cancelled crawl) just forgets its request, and
its late answer finds nobody.

``extract`` answers ``None`` when the caller should extract the page itself: no other crawler
serves the queue (asked of the broker, the queue's consumer count, at most every
``check_interval`` seconds; a lone crawler would only send its pages to itself), the request
could not be published, or no readable answer came in time.

``extracted_from`` turns an answer back into what local extraction returns or raises:
``Extracted``, ``TimeoutError``, ``DocumentError``, or ``RemoteExtractionError`` (whose
``repr`` is the original exception's).
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

from crawl_contracts import CrawlRequested, ExtractRequested, PageExtracted, routing
from crawl_runtime.topology import crawl_exchange, work_queue
from crawl_worker import observability
from crawl_worker.documents import DocumentError
from crawl_worker.extracted import Extracted

__all__ = ["ExtractClient", "RemoteExtractionError", "extracted_from"]

log = structlog.get_logger("crawl_worker.extractclient")


class RemoteExtractionError(Exception):
    """Extraction failed in another crawler; ``repr`` gives that exception's ``repr``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __repr__(self) -> str:
        return self.detail


def extracted_from(reply: PageExtracted) -> Extracted:
    """The extraction an answer carries; its failure raised as local extraction raises it."""
    failure = reply.error
    if failure is not None:
        if failure.kind == "timeout":
            raise TimeoutError(failure.detail or "extraction ran out of time")
        if failure.kind == "document":
            raise DocumentError(failure.reason, failure.detail)
        raise RemoteExtractionError(failure.detail)
    return Extracted(
        title=reply.title,
        markdown=reply.markdown,
        language=reply.language,
        description=reply.description,
        content_hash=reply.content_hash,
        links=list(reply.links),
        canonical=reply.canonical,
        base=reply.base,
        page_count=reply.page_count,
    )


class ExtractClient:
    """One crawler instance's extraction requests (``register`` before the broker starts,
    ``start`` once it is connected). ``serving``: this instance consumes the queue too (its
    own consumer is then not counted as another crawler)."""

    def __init__(
        self,
        broker: RabbitBroker,
        worker_id: str,
        *,
        timeout: float,
        check_interval: float,
        serving: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broker = broker
        self._timeout = timeout
        self._check_interval = check_interval
        self._own_consumers = 1 if serving else 0
        self._clock = clock
        self._pending: dict[str, asyncio.Future[PageExtracted]] = {}
        self._queue: Any = None  # aio-pika's queue object of crawler.extract
        self._checked_at: float | None = None
        self._others = 0
        self.reply_queue = RabbitQueue(
            f"{routing.EXTRACT_REPLY_QUEUE_PREFIX}.{worker_id}",
            exclusive=True,
            auto_delete=True,
            durable=False,
        )

    @property
    def pending(self) -> int:
        """Requests waiting for their answer now."""
        return len(self._pending)

    def register(self) -> None:
        @self._broker.subscriber(
            self.reply_queue,
            ack_policy=AckPolicy.ACK_FIRST,
            no_reply=True,
            title="crawler.extract-replies",
            description="Crawlers' answers to this instance's extraction requests.",
        )
        async def on_reply() -> None:
            message = self._broker.context.get_local("message")
            assert isinstance(message, RabbitMessage)
            self.answered(message.correlation_id, message.body)

    def answered(self, correlation_id: str | None, body: bytes) -> None:
        """Hand a reply to the request waiting for it (a late one finds nobody)."""
        waiting = self._pending.get(correlation_id or "")
        if waiting is None or waiting.done():
            log.debug("extract.reply_unclaimed", correlation_id=correlation_id)
            return
        try:
            waiting.set_result(PageExtracted.model_validate_json(body))
        except ValidationError as exc:
            waiting.set_exception(ValueError(f"unreadable extraction reply: {exc}"[:500]))

    async def start(self) -> None:
        """Declare ``crawler.extract`` (bound as its consumers bind it)."""
        exchange = await self._broker.declare_exchange(crawl_exchange())
        self._queue = await self._broker.declare_queue(work_queue(routing.EXTRACT_REQUESTS_QUEUE))
        await self._queue.bind(exchange, routing_key=routing.EXTRACT_ROUTING_KEY)

    async def shared(self) -> bool:
        """Whether another crawler serves the queue (asked at most every ``check_interval``)."""
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self._check_interval:
            self._checked_at = now
            try:
                declared = await asyncio.wait_for(self._queue.declare(), 5)
                others = int(declared.consumer_count) - self._own_consumers
            except Exception as exc:
                log.warning("extract.consumers_unknown", error=str(exc)[:300])
                others = 0
            if (others > 0) != (self._others > 0):
                log.info("extract.sharing", other_crawlers=max(others, 0))
            self._others = others
        return self._others > 0

    async def extract(self, command: CrawlRequested, url: str, body: bytes) -> PageExtracted | None:
        """Another crawler's (or this one's) extraction of ``body``; ``None``: extract it here."""
        if self._queue is None or not await self.shared():
            return None
        request = ExtractRequested(
            job_id=command.job_id,
            tenant=command.tenant,
            correlation_id=command.message_id,
            attempt=command.attempt,
            url=url,
            body=body,
            deadline=datetime.now(UTC) + timedelta(seconds=self._timeout),
        )
        waiting: asyncio.Future[PageExtracted] = asyncio.get_running_loop().create_future()
        self._pending[request.message_id] = waiting
        try:
            reply, missing = await self._ask(request, waiting)
        finally:  # also when the visit is cancelled: its answer, if any, finds nobody
            self._pending.pop(request.message_id, None)
        if reply is None:
            observability.fell_back(missing)
        return reply

    async def _ask(
        self, request: ExtractRequested, waiting: asyncio.Future[PageExtracted]
    ) -> tuple[PageExtracted | None, str]:
        """The answer, or ``None`` and why there is none."""
        url = request.url[:300]
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    await self._broker.publish(
                        request.model_dump_json().encode(),
                        exchange=routing.EXCHANGE,
                        routing_key=routing.EXTRACT_ROUTING_KEY,
                        reply_to=self.reply_queue.name,
                        correlation_id=request.message_id,
                        message_id=request.message_id,
                        content_type="application/json",
                        message_type=request.type,
                        persist=False,  # worth nothing once its crawler stopped waiting
                    )
                except Exception as exc:
                    log.warning("extract.publish_failed", url=url, error=str(exc)[:300])
                    return None, "unpublished"
                return await waiting, ""
        except TimeoutError:
            log.warning("extract.no_answer", url=url, seconds=self._timeout)
            return None, "timeout"
        except ValueError as exc:  # an unreadable reply
            log.warning("extract.unreadable_reply", url=url, error=str(exc)[:300])
            return None, "unreadable"
