"""Extraction through the queue: a page asked of another crawler comes back as the same
``Extracted`` (or the same failure) local extraction gives; without another crawler, without
an answer, or for a small page, the owner extracts it itself; a cancelled visit forgets its
request; the serving side dead-letters garbage and drops expired or cancelled requests.

The broker is a hand-written loop: what the client publishes is handed to a server's
``handle`` as a received message, and the server's reply to the client's ``answered``.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from faststream.rabbit import RabbitBroker, RabbitMessage, RabbitQueue

from crawl_contracts import (
    CrawlCancelled,
    CrawlRequest,
    CrawlRequested,
    ExtractRequested,
    PageExtracted,
    routing,
)
from crawl_contracts.models import SitemapMode
from crawl_worker import observability
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.documents import DocumentError
from crawl_worker.extract import extract_page
from crawl_worker.extractclient import ExtractClient, RemoteExtractionError, extracted_from
from crawl_worker.extraction import JobExtractor, LocalExtractor
from crawl_worker.extractserver import ExtractServer, reply_for
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.robots import RobotsCache
from crawl_worker.safety import AddressGuard
from crawl_worker.settings import WorkerSettings

from .fakes import Sink

WORDS = "Plenty of words so that the extractor keeps this paragraph as the main text. "
PAGE = (
    "<html lang='en-GB'><head><title>Oak</title><meta name=description content='About oaks'>"
    "<link rel=canonical href='/trees/oak'></head><body><article>"
    f"<h1>Oak</h1><p>{WORDS * 20}</p><a href='ash.html'>ash</a> <a href='/elm'>elm</a>"
    "</article></body></html>"
).encode()
SMALL = b"<html><head><title>t</title></head><body><p>tiny</p></body></html>"
URL = "http://127.0.0.1:9/trees/oak.html"
COMMAND = CrawlRequested(job_id="job-1", tenant="acme", request=CrawlRequest(url=URL))


class Received:
    """A delivered message, as FastStream hands it to a handler; records how it was settled."""

    def __init__(self, body: bytes, *, reply_to: str | None, correlation_id: str | None) -> None:
        self.body = body
        self.message_id = "m-1"
        self.correlation_id = correlation_id
        self.raw_message = SimpleNamespace(
            body=body,
            headers={},
            reply_to=reply_to,
            redelivered=False,
            message_id="m-1",
            correlation_id=correlation_id,
            content_type="application/json",
            type="ExtractRequested",
        )
        self.settled: list[str] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def reject(self) -> None:
        self.settled.append("reject")

    def as_message(self) -> RabbitMessage:
        return cast("RabbitMessage", self)


class LoopBroker:
    """Requests go to ``server`` (unless ``deliver`` is off), replies to ``client``; the
    extraction queue has ``consumers`` consumers."""

    def __init__(self, consumers: int = 2) -> None:
        self.consumers = consumers
        self.deliver = True
        self.client: ExtractClient | None = None
        self.server: ExtractServer | None = None
        self.published: list[tuple[bytes, dict[str, Any]]] = []
        self.received: list[Received] = []
        self.declares = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, body: bytes, **options: Any) -> None:
        self.published.append((body, options))
        if options.get("routing_key") == routing.EXTRACT_ROUTING_KEY:
            if self.deliver and self.server is not None:
                message = Received(
                    body, reply_to=options["reply_to"], correlation_id=options["correlation_id"]
                )
                self.received.append(message)
                task = asyncio.create_task(self.server.handle(message.as_message()))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif options.get("exchange") == "" and self.client is not None:
            assert options["routing_key"] == self.client.reply_queue.name
            self.client.answered(options["correlation_id"], body)

    async def declare_exchange(self, exchange: Any) -> Any:
        return SimpleNamespace(name=exchange.name)

    async def declare_queue(self, queue: RabbitQueue) -> Any:
        async def bind(exchange: Any, *, routing_key: str) -> None:
            return None

        async def declare() -> Any:
            self.declares += 1
            return SimpleNamespace(consumer_count=self.consumers)

        return SimpleNamespace(bind=bind, declare=declare)

    def as_broker(self) -> RabbitBroker:
        return cast("RabbitBroker", self)


def local(pool: ThreadPoolExecutor, **settings: Any) -> LocalExtractor:
    return LocalExtractor(WorkerSettings(inline_extract_bytes=1024, **settings), pool)


async def wired(
    pool: ThreadPoolExecutor,
    *,
    consumers: int = 2,
    wait: float = 5.0,
    extractor: LocalExtractor | None = None,
) -> tuple[LoopBroker, ExtractClient, JobExtractor]:
    broker = LoopBroker(consumers)
    here = extractor or local(pool)
    client = ExtractClient(
        broker.as_broker(), "owner", timeout=wait, check_interval=60, serving=True
    )
    broker.client = client
    broker.server = ExtractServer(broker.as_broker(), local(pool), "other")
    await client.start()
    return broker, client, JobExtractor(here, client, COMMAND)


def requests_of(broker: LoopBroker) -> list[ExtractRequested]:
    return [
        ExtractRequested.model_validate_json(body)
        for body, options in broker.published
        if options.get("routing_key") == routing.EXTRACT_ROUTING_KEY
    ]


def count(where: str) -> float:
    return float(observability.EXTRACTIONS.labels(where=where)._value.get())


@pytest.fixture
def pool() -> Any:
    with ThreadPoolExecutor(max_workers=2) as executor:
        yield executor


# -- the round trip --------------------------------------------------------------------------


async def test_a_page_extracted_by_another_crawler_equals_its_local_extraction(
    pool: ThreadPoolExecutor,
) -> None:
    broker, client, extract = await wired(pool)
    remote_before, served_before = count("remote"), count("served")
    got = await extract(PAGE, URL)
    assert got == extract_page(PAGE, URL)
    assert got.title == "Oak"
    assert got.links == ["ash.html", "/elm"]
    [request] = requests_of(broker)
    assert (request.job_id, request.tenant, request.url, request.body) == (
        "job-1",
        "acme",
        URL,
        PAGE,
    )
    assert request.deadline > datetime.now(UTC)
    options = broker.published[0][1]
    assert options["exchange"] == routing.EXCHANGE
    assert options["reply_to"] == "crawler.extract-replies.owner"
    assert options["correlation_id"] == request.message_id
    assert options["persist"] is False
    reply = PageExtracted.model_validate_json(broker.published[1][0])
    assert reply.extractor_id == "other"
    assert broker.received[0].settled == ["ack"]  # after the reply went out
    assert (count("remote"), count("served")) == (remote_before + 1, served_before + 1)
    assert client.pending == 0


async def test_a_request_a_crawler_takes_from_the_queue_for_itself_is_answered_in_process(
    pool: ThreadPoolExecutor,
) -> None:
    broker, client, extract = await wired(pool)
    broker.server = ExtractServer(broker.as_broker(), local(pool), "owner", own=client)
    served_before = count("served")
    got = await extract(PAGE, URL)
    assert got == extract_page(PAGE, URL)
    [(_, options)] = broker.published  # the request only: no reply message
    assert options["routing_key"] == routing.EXTRACT_ROUTING_KEY
    assert broker.received[0].settled == ["ack"]
    assert count("served") == served_before + 1
    assert client.pending == 0


async def test_small_pages_are_extracted_by_their_owner_without_a_round_trip(
    pool: ThreadPoolExecutor,
) -> None:
    broker, _, extract = await wired(pool)
    assert (await extract(SMALL, URL)).title == "t"
    assert broker.published == []


async def test_a_lone_crawler_extracts_its_pages_itself(pool: ThreadPoolExecutor) -> None:
    # Its own consumer is the only one: sending would only hand the page to itself.
    broker, _, extract = await wired(pool, consumers=1)
    before = count("local")
    assert (await extract(PAGE, URL)).title == "Oak"
    assert broker.published == []
    assert count("local") == before + 1


async def test_whether_another_crawler_serves_is_asked_once_per_interval(
    pool: ThreadPoolExecutor,
) -> None:
    now = [0.0]
    broker = LoopBroker(consumers=1)
    client = ExtractClient(
        broker.as_broker(), "owner", timeout=5, check_interval=5, clock=lambda: now[0]
    )
    await client.start()
    assert not await client.shared()
    broker.consumers = 2  # another crawler started
    now[0] = 4.0
    assert not await client.shared()  # not asked again yet
    now[0] = 5.0
    assert await client.shared()
    assert broker.declares == 2


async def test_without_an_answer_in_time_the_owner_extracts_the_page_itself(
    pool: ThreadPoolExecutor,
) -> None:
    broker, client, extract = await wired(pool, wait=0.2)
    broker.deliver = False  # the request waits in the queue, nobody answers
    before = observability.EXTRACT_FALLBACKS.labels(reason="timeout")._value.get()
    started = time.monotonic()
    got = await extract(PAGE, URL)
    assert got == extract_page(PAGE, URL)
    assert 0.2 <= time.monotonic() - started < 2
    assert observability.EXTRACT_FALLBACKS.labels(reason="timeout")._value.get() == before + 1
    assert client.pending == 0


async def test_failures_come_back_as_the_exceptions_local_extraction_raises() -> None:
    request = ExtractRequested(
        job_id="j", tenant="t", url=URL, body=b"%PDF-1", deadline=datetime.now(UTC)
    )
    cases: list[tuple[BaseException, type[BaseException]]] = [
        (TimeoutError(), TimeoutError),
        (DocumentError("pdf_encrypted", "needs a password"), DocumentError),
        (ValueError("odd"), RemoteExtractionError),
    ]
    for raised, expected in cases:
        reply = reply_for(request, raised, seconds=0.1, extractor_id="x")
        wire = PageExtracted.model_validate_json(reply.model_dump_json())
        with pytest.raises(expected) as caught:
            extracted_from(wire)
        if isinstance(caught.value, DocumentError):
            assert (caught.value.reason, caught.value.detail) == (
                "pdf_encrypted",
                "needs a password",
            )
        if isinstance(caught.value, RemoteExtractionError):
            assert repr(caught.value) == "ValueError('odd')"  # the note the owner logs


async def test_a_remote_timeout_is_recorded_as_extraction_timeout_like_a_local_one(
    pool: ThreadPoolExecutor,
) -> None:
    broker, _, extract = await wired(pool)

    class Slow(ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            return super().submit(time.sleep, 0.5)

    with Slow(max_workers=1) as slow:
        assert broker.server is not None
        broker.server = ExtractServer(
            broker.as_broker(), local(slow, extract_timeout=0.05), "other"
        )
        with pytest.raises(TimeoutError):
            await extract(PAGE, URL)


async def test_a_cancelled_visit_forgets_its_request_at_once(pool: ThreadPoolExecutor) -> None:
    broker, client, extract = await wired(pool)
    broker.deliver = False
    visit = asyncio.create_task(extract(PAGE, URL))
    for _ in range(100):
        if client.pending:
            break
        await asyncio.sleep(0.01)
    assert client.pending == 1
    visit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await visit
    assert client.pending == 0
    [request] = requests_of(broker)
    late = reply_for(request, extract_page(PAGE, URL), seconds=0, extractor_id="late")
    client.answered(request.message_id, late.model_dump_json().encode())  # finds nobody


async def test_a_cancelled_crawl_waiting_for_remote_extractions_ends_within_a_second(
    pool: ThreadPoolExecutor,
) -> None:
    broker, _, extract = await wired(pool, wait=60)
    broker.deliver = False  # every page's extraction hangs until its crawl is cancelled

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        return httpx.Response(
            200, headers={"content-type": "text/html"}, stream=httpx.ByteStream(PAGE)
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(serve))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits(total_timeout=1))
    sink = Sink()
    ports = CrawlPorts(fetcher, RobotsCache(fetcher.fetch_text, "agent"), extract, sink)
    request = CrawlRequest(url=URL, sitemap=SitemapMode.SKIP)
    crawl = Crawl(
        CrawlRequested(job_id="job-1", tenant="acme", request=request), ports, worker_id="w"
    )
    running = asyncio.create_task(crawl.run())
    for _ in range(200):
        if requests_of(broker):
            break
        await asyncio.sleep(0.01)
    assert requests_of(broker)
    started = time.monotonic()
    crawl.cancel()
    terminal = await asyncio.wait_for(running, 1)
    assert time.monotonic() - started < 1
    assert isinstance(terminal, CrawlCancelled)
    await client.aclose()


# -- the serving side ------------------------------------------------------------------------


async def serve_one(
    body: bytes, *, reply_to: str | None = "crawler.extract-replies.x", cancelled: bool = False
) -> tuple[Received, LoopBroker]:
    broker = LoopBroker()
    with ThreadPoolExecutor(max_workers=1) as pool:
        server = ExtractServer(
            broker.as_broker(), local(pool), "me", cancelled=lambda _job: cancelled
        )
        message = Received(body, reply_to=reply_to, correlation_id="c-1")
        await server.handle(message.as_message())
    return message, broker


def request_body(**changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "job_id": "job-1",
        "tenant": "acme",
        "url": URL,
        "body": PAGE,
        "deadline": datetime.now(UTC) + timedelta(seconds=30),
        **changes,
    }
    return ExtractRequested(**fields).model_dump_json().encode()


async def test_garbage_and_requests_without_reply_to_are_dead_lettered_with_why() -> None:
    for body, reply_to, reason in (
        (b"not json", "q", "unparseable"),
        (request_body(), None, "without reply_to"),
    ):
        message, broker = await serve_one(body, reply_to=reply_to)
        [(_, options)] = broker.published
        assert options["exchange"] == routing.DEAD_LETTER_EXCHANGE
        assert options["routing_key"] == "crawler.extract.dead"
        assert reason in options["headers"][routing.DEAD_LETTER_REASON_HEADER]
        assert message.settled == ["ack"]


async def test_expired_and_cancelled_requests_are_dropped_unanswered() -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    for body, cancelled in ((request_body(deadline=past), False), (request_body(), True)):
        message, broker = await serve_one(body, cancelled=cancelled)
        assert broker.published == []
        assert message.settled == ["ack"]


async def test_a_served_request_is_answered_to_its_reply_to_with_its_correlation_id() -> None:
    message, broker = await serve_one(request_body())
    [(body, options)] = broker.published
    assert (options["exchange"], options["routing_key"]) == ("", "crawler.extract-replies.x")
    assert options["correlation_id"] == "c-1"
    assert options["mandatory"] is False
    reply = json.loads(body)
    assert (reply["type"], reply["title"], reply["extractor_id"]) == ("PageExtracted", "Oak", "me")
    assert message.settled == ["ack"]
