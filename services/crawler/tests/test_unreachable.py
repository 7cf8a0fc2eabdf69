"""Reasons that say what happened: a site that cannot be reached is not a site that forbids
crawling, and a crawl that could fetch nothing of it fails with ``start_unreachable``."""

from __future__ import annotations

from typing import Any

import httpx

from crawl_contracts import CrawlFailed, CrawlRequest, CrawlRequested, PageRecorded, page_records
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.robots import RobotsCache
from crawl_worker.safety import AddressGuard

from .fakes import Sink, extract

PAGE = b"<html><head><title>Up</title></head><body><p>" + b"Words to keep. " * 30 + b"</p></body>"


def crawl_of(handler: Any, *, bypass_robots: bool = False) -> tuple[Crawl, Sink]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    limits = FetchLimits(retries=1, retry_backoff=0.001)
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), limits)
    bypass = ("127.0.0.1",) if bypass_robots else ()
    command = CrawlRequested(
        job_id="j",
        tenant="t",
        request=CrawlRequest(url="http://127.0.0.1:9/", bypass_robots_domains=bypass),
    )
    robots = RobotsCache(fetcher.fetch_text, "test-agent", bypass)
    sink = Sink()
    return Crawl(command, CrawlPorts(fetcher, robots, extract, sink), worker_id="w"), sink


def respond(status: int, body: bytes, content_type: str = "text/html") -> httpx.Response:
    # stream=..., as from a network: the fetcher reads the raw stream itself
    headers = {"content-type": content_type}
    return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def start_record(sink: Sink) -> PageRecorded:
    (record,) = [r for r in page_records(sink.events) if r.url == "http://127.0.0.1:9/"]
    return record


async def test_a_host_refusing_connections_fails_the_crawl_with_start_unreachable() -> None:
    crawl, sink = crawl_of(refused)
    terminal = await crawl.run()
    assert isinstance(terminal, CrawlFailed)
    assert terminal.error_code == "start_unreachable"
    assert "Connection refused" in terminal.error
    assert "http://127.0.0.1:9/" in terminal.error
    record = start_record(sink)
    # Not "robots": the site forbade nothing, its robots.txt could not be asked.
    assert (record.outcome.value, record.reason) == ("skipped", "robots_unavailable")
    assert record.error is not None
    assert record.error.startswith("connect_error")
    assert "Connection refused" in record.error
    assert terminal.counters.skipped == 1
    assert terminal.counters.fetched == 0


async def test_with_robots_bypassed_the_start_url_itself_names_the_connection_error() -> None:
    crawl, sink = crawl_of(refused, bypass_robots=True)
    terminal = await crawl.run()
    assert isinstance(terminal, CrawlFailed)
    assert terminal.error_code == "start_unreachable"
    assert "(2 attempts)" in terminal.error
    record = start_record(sink)
    assert (record.outcome.value, record.reason) == ("failed", "connect_error")
    assert record.error is not None
    assert "Connection refused" in record.error


async def test_a_robots_txt_answering_503_is_unavailable_with_its_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return respond(503, b"busy", "text/plain")
        return respond(200, PAGE)

    crawl, sink = crawl_of(handler)
    terminal = await crawl.run()
    assert isinstance(terminal, CrawlFailed)
    assert terminal.error_code == "start_unreachable"
    record = start_record(sink)
    assert (record.reason, record.error) == ("robots_unavailable", "HTTP 503")


async def test_a_start_url_that_answers_404_is_a_completed_crawl_with_a_failed_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return respond(404, b"gone")

    crawl, sink = crawl_of(handler)
    terminal = await crawl.run()
    assert terminal is not None
    assert terminal.type == "CrawlCompleted"  # the site answered: nothing was unreachable
    record = start_record(sink)
    assert record.outcome.value == "failed"
    assert record.error is None


async def test_a_reachable_site_whose_rules_forbid_the_start_says_robots() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return respond(200, b"User-agent: *\nDisallow: /\n", "text/plain")
        return respond(200, PAGE)

    crawl, sink = crawl_of(handler)
    terminal = await crawl.run()
    assert terminal is not None
    assert terminal.type == "CrawlCompleted"
    record = start_record(sink)
    assert (record.reason, record.error) == ("robots", None)
