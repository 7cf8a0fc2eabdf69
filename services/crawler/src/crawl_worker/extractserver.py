"""Serving the extraction queue: every crawler extracts pages for any crawl, its own included.

Each crawler consumes ``crawler.extract`` with as many deliveries at once as its extraction
pool has processes, runs each request through its ``LocalExtractor`` (the same pool, inline
threshold and ``extract_timeout`` as for its own pages) and answers ``PageExtracted`` to the
request's ``reply_to``, then acknowledges it. A request of this crawler's own crawls (its
``reply_to`` is this crawler's reply queue) is answered in process, without a reply message.
A crawler killed mid-extraction never acknowledged its requests: the broker hands them to
another crawler, and the redelivery is logged. A request that cannot be read, or has no
``reply_to``, is dead-lettered with the reason; one past its ``deadline`` (its crawler
stopped waiting and extracted the page itself) or of a job whose cancel this crawler heard
is dropped: acknowledged without work, and logged.

``crawler.extract`` is a classic queue of transient requests (``routing.CLASSIC_WORK_QUEUES``),
so it has no delivery limit: a request that kills every crawler it reaches comes back only
until its ``deadline``, after which the next crawler drops it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.message import RabbitMessage

from crawl_contracts import ExtractionFailure, ExtractRequested, PageExtracted, routing
from crawl_runtime.bodies import undecoded
from crawl_runtime.replies import accepted, answer
from crawl_runtime.topology import crawl_exchange, declare_dead_letters, work_queue
from crawl_worker import observability
from crawl_worker.documents import DocumentError
from crawl_worker.extract import Extracted
from crawl_worker.extractclient import ExtractClient
from crawl_worker.extraction import LocalExtractor

__all__ = ["ExtractServer", "reply_for"]

log = structlog.get_logger("crawl_worker.extractserver")


def reply_for(
    request: ExtractRequested,
    outcome: Extracted | BaseException,
    *,
    seconds: float,
    extractor_id: str,
) -> PageExtracted:
    """The answer to ``request``: the extraction, or its failure as the owner records it."""
    common = {
        "job_id": request.job_id,
        "url": request.url,
        "seconds": round(seconds, 6),
        "extractor_id": extractor_id,
    }
    if isinstance(outcome, Extracted):
        return PageExtracted(
            **common,
            title=outcome.title,
            markdown=outcome.markdown,
            language=outcome.language,
            description=outcome.description,
            content_hash=outcome.content_hash,
            links=tuple(outcome.links),
            canonical=outcome.canonical,
            base=outcome.base,
            page_count=outcome.page_count,
        )
    if isinstance(outcome, TimeoutError):
        failure = ExtractionFailure(kind="timeout", reason="extraction_timeout")
    elif isinstance(outcome, DocumentError):
        failure = ExtractionFailure(kind="document", reason=outcome.reason, detail=outcome.detail)
    else:
        failure = ExtractionFailure(kind="error", reason="extraction_error", detail=repr(outcome))
    return PageExtracted(**common, error=failure)


class ExtractServer:
    """This crawler's consumer of ``crawler.extract`` (``register`` before the broker
    starts, ``start`` once it is connected). ``cancelled`` says whether this crawler heard
    a job's cancel."""

    def __init__(
        self,
        broker: RabbitBroker,
        local: LocalExtractor,
        worker_id: str,
        *,
        cancelled: Callable[[str], bool] = lambda _job_id: False,
        own: ExtractClient | None = None,
    ) -> None:
        self._broker = broker
        self._local = local
        self._worker_id = worker_id
        self._cancelled = cancelled
        self._own = own  # this crawler's requests: answered in process, not through the broker

    def register(self) -> None:
        # As many deliveries at once as the pool extracts at once: one unacknowledged request
        # per busy process, the rest stay in the queue for whichever crawler is free.
        @self._broker.subscriber(
            work_queue(routing.EXTRACT_REQUESTS_QUEUE),
            crawl_exchange(),
            channel=Channel(prefetch_count=self._local.processes),
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            decoder=undecoded,
            title="crawler.extract",
            description="Extraction requests of any crawl; each is answered to its reply_to, "
            "then acked.",
        )
        async def on_extract() -> None:
            message = self._broker.context.get_local("message")
            assert isinstance(message, RabbitMessage)
            await self.handle(message)

    async def start(self) -> None:
        await declare_dead_letters(self._broker, routing.EXTRACT_REQUESTS_QUEUE)

    async def handle(self, message: RabbitMessage) -> None:
        """Validate, extract and answer one request; a bad one is dead-lettered with why."""
        structlog.contextvars.bind_contextvars(message_id=message.message_id)
        read = await accepted(
            self._broker,
            message,
            routing.EXTRACT_REQUESTS_QUEUE,
            ExtractRequested,
            "an extraction request",
        )
        if read is None:
            return
        request, reply_to = read
        structlog.contextvars.bind_contextvars(job_id=request.job_id, tenant=request.tenant)
        expired = request.deadline <= datetime.now(UTC)
        if expired or self._cancelled(request.job_id):
            observability.extract_dropped("expired" if expired else "cancelled")
            log.info("extract.dropped", url=request.url[:300], expired=expired)
            await message.ack()
            return
        if message.raw_message.redelivered:  # the crawler it went to first died or stopped
            log.info("extract.redelivered", url=request.url[:300])
        started = time.perf_counter()
        outcome: Extracted | BaseException
        observability.EXTRACTIONS_SERVING.inc()
        try:
            outcome = await self._local.extract(request.body, request.url)
        except asyncio.CancelledError:
            raise  # shutting down: unacknowledged, the request goes to another crawler
        except Exception as exc:  # answered, as the owner would have met it
            outcome = exc
        finally:
            observability.EXTRACTIONS_SERVING.dec()
        observability.extracted("served")
        reply = reply_for(
            request,
            outcome,
            seconds=time.perf_counter() - started,
            extractor_id=self._worker_id,
        )
        if self._own is not None and reply_to == self._own.reply_queue.name:
            self._own.resolved(message.correlation_id, reply)  # its own page: no reply message
        else:
            await answer(self._broker, message, reply_to, reply, request.url)
        await message.ack()
