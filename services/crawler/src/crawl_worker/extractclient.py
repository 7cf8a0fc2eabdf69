"""Asking the crawlers to extract a page: request/reply over the broker.

A crawler instance has its own exclusive reply queue (``crawler.extract-replies.<worker id>``).
``extract`` publishes an ``ExtractRequested`` to the crawl exchange under
``routing.EXTRACT_ROUTING_KEY`` (the ``crawler.extract`` work queue, which every crawler
serves, this one included) with that queue as ``reply_to`` and the request's id as
``correlation_id``, and waits for the matching ``PageExtracted``, at most ``timeout`` seconds
(the request's ``deadline``: a crawler drops it past then). Many requests are in flight at
once; a cancelled wait (a cancelled visit, a cancelled crawl) just forgets its request, and
its late answer finds nobody.

The queue is a durable classic one and the requests are transient: a request is worth nothing
once its owner stopped waiting, and a broker restart drops the owner's exclusive reply queue
anyway, so neither is worth a quorum queue's replicated, fsynced log. What a broker restart
loses, the owners extract themselves at their timeout.

``extract`` answers ``None`` when the caller should extract the page itself: no other crawler
serves the queue (asked of the broker, the queue's consumer count, at most every
``check_interval`` seconds; a lone crawler would only send its pages to itself), the request
could not be published, or no readable answer came in time.

``extracted_from`` turns an answer back into what local extraction returns or raises:
``Extracted``, ``TimeoutError``, ``DocumentError``, or ``RemoteExtractionError`` (whose
``repr`` is the original exception's).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from faststream.rabbit import RabbitBroker

from crawl_contracts import CrawlRequested, ExtractRequested, PageExtracted, routing
from crawl_worker import observability
from crawl_worker.documents import DocumentError
from crawl_worker.extracted import Extracted
from crawl_worker.replies import ReplyChannel

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
        self._timeout = timeout
        self._own_consumers = 1 if serving else 0
        self._others = 0
        self._channel = ReplyChannel(
            broker,
            reply_type=PageExtracted,
            queue=routing.EXTRACT_REQUESTS_QUEUE,
            routing_key=routing.EXTRACT_ROUTING_KEY,
            reply_queue=f"{routing.EXTRACT_REPLY_QUEUE_PREFIX}.{worker_id}",
            kind="extract",
            timeout=timeout,
            check_interval=check_interval,
            clock=clock,
        )
        self.reply_queue = self._channel.reply_queue

    @property
    def pending(self) -> int:
        """Requests waiting for their answer now."""
        return self._channel.pending

    def register(self) -> None:
        self._channel.register("Crawlers' answers to this instance's extraction requests.")

    def answered(self, correlation_id: str | None, body: bytes) -> None:
        """Hand a reply to the request waiting for it (a late one finds nobody)."""
        self._channel.answered(correlation_id, body)

    def resolved(self, correlation_id: str | None, reply: PageExtracted) -> None:
        """Hand an answer this crawler made to its own request, without the broker."""
        self._channel.resolved(correlation_id, reply)

    async def start(self) -> None:
        """Declare ``crawler.extract`` (bound as its consumers bind it). An earlier version's
        quorum queue of that name refuses this: ``crawl_worker.legacy`` replaces it first."""
        await self._channel.start()

    async def shared(self) -> bool:
        """Whether another crawler serves the queue (asked at most every ``check_interval``)."""
        others = await self._channel.consumers() - self._own_consumers
        if (others > 0) != (self._others > 0):
            log.info("extract.sharing", other_crawlers=max(others, 0))
        self._others = others
        return self._others > 0

    async def extract(self, command: CrawlRequested, url: str, body: bytes) -> PageExtracted | None:
        """Another crawler's (or this one's) extraction of ``body``; ``None``: extract it here."""
        if not self._channel.started or not await self.shared():
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
        reply, missing = await self._ask(request)
        if reply is None:
            observability.fell_back(missing)
        return reply

    async def _ask(self, request: ExtractRequested) -> tuple[PageExtracted | None, str]:
        """The answer, or ``None`` and why there is none."""
        url = request.url[:300]
        try:
            return await self._channel.ask(request), ""
        except TimeoutError:
            log.warning("extract.no_answer", url=url, seconds=self._timeout)
            return None, "timeout"
        except ValueError as exc:  # an unreadable reply
            log.warning("extract.unreadable_reply", url=url, error=str(exc)[:300])
            return None, "unreadable"
        except Exception as exc:  # publishing failed
            log.warning("extract.publish_failed", url=url, error=str(exc)[:300])
            return None, "unpublished"
