"""The crawl engine against an in-memory site (httpx.MockTransport), with a collecting sink."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from crawl_contracts import (
    CrawlProgressed,
    CrawlRequest,
    CrawlRequested,
    PageRecorded,
    PagesRecorded,
    page_records,
)
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.robots import RobotsCache
from crawl_worker.safety import AddressGuard

from .fakes import Sink, extract

TEXT = "<p>" + "Plenty of words so that the extractor keeps this paragraph. " * 5 + "</p>"


def html(title: str, *links: str, body: str = "") -> str:
    body = body or f"<p>This page is called {title}.</p>{TEXT}"
    anchors = "".join(f"<a href='{href}'>{href}</a> " for href in links)
    head = f"<head><title>{title}</title></head>"
    return f"<html lang=en>{head}<body>{body}<p>{anchors}</p></body></html>"


SITE: dict[str, tuple[int, dict[str, str], str]] = {
    "/": (
        200,
        {},
        html(
            "Home",
            "/a",
            "/b#frag",
            "/a?utm_source=x",
            "https://other.example/",
            "mailto:x@y.z",
            "/robots-no",
        ),
    ),
    "/a": (200, {}, html("A", "/", "/c")),
    "/b": (200, {}, html("B", "/file.zip", "/b-copy")),
    "/b-copy": (200, {}, html("B", "/")),
    "/c": (200, {}, html("C", "/d")),
    "/d": (200, {}, html("D")),
    "/file.zip": (200, {"content-type": "application/zip"}, "PK"),
    "/robots.txt": (200, {"content-type": "text/plain"}, "User-agent: *\nDisallow: /robots-no\n"),
}


def handler(request: httpx.Request) -> httpx.Response:
    status, headers, body = SITE.get(request.url.path, (404, {}, "nope"))
    # stream=..., as from a network: the fetcher reads the raw stream itself
    return httpx.Response(
        status,
        headers={"content-type": "text/html", **headers},
        stream=httpx.ByteStream(body.encode()),
    )


def make_crawl(
    max_pages: int = 100,
    max_depth: int = 2,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sink: Sink | None = None,
    record_batch: int = 100,
) -> tuple[Crawl, Sink]:
    client = httpx.AsyncClient(transport=transport or httpx.MockTransport(handler))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
    sink = sink or Sink()
    command = CrawlRequested(
        job_id="j",
        tenant="t",
        request=CrawlRequest(url="http://127.0.0.1:9/", max_pages=max_pages, max_depth=max_depth),
    )
    robots = RobotsCache(fetcher.fetch_text, "test-agent")
    ports = CrawlPorts(fetcher, robots, extract, sink)
    return Crawl(command, ports, worker_id="w", record_batch=record_batch), sink


def outcomes(sink: Sink) -> dict[str, tuple[str, str | None]]:
    return {
        e.url.removeprefix("http://127.0.0.1:9"): (e.outcome.value, e.reason)
        for e in page_records(sink.events)
    }


def assert_counters_add_up(sink: Sink) -> None:
    for event in sink.events:
        counters = getattr(event, "counters", None)
        if counters is not None:
            c = counters
            assert c.discovered == c.queued + c.in_flight + c.fetched + c.failed + c.skipped


async def test_every_discovered_url_ends_with_an_outcome_and_a_reason() -> None:
    crawl, sink = make_crawl(max_depth=2)
    terminal = await crawl.run()
    assert terminal is not None
    assert terminal.type == "CrawlCompleted"
    assert terminal.stop_reason.value == "exhausted"
    assert outcomes(sink) == {
        "/": ("fetched", None),
        "/a": ("fetched", None),
        "/b": ("fetched", None),
        "/c": ("fetched", None),
        "/b-copy": ("skipped", "duplicate"),
        "/d": ("skipped", "depth_limit"),
        "/file.zip": ("skipped", "content_type"),
        "/robots-no": ("skipped", "robots"),
        "https://other.example/": ("skipped", "out_of_scope"),
    }
    assert terminal.counters.discovered == 9
    assert terminal.counters.fetched == 4
    assert_counters_add_up(sink)
    types = [e.type for e in sink.events]
    assert types[0] == "CrawlStarted"
    assert types[-1] == "CrawlCompleted"
    seqs = [e.seq for e in sink.events]
    assert seqs == sorted(set(seqs))


async def test_page_limit_stops_the_crawl_and_records_the_rest_as_skipped() -> None:
    crawl, sink = make_crawl(max_pages=2, max_depth=5)
    terminal = await crawl.run()
    assert terminal is not None
    assert terminal.type == "CrawlCompleted"
    assert terminal.stop_reason.value == "page_limit"
    assert terminal.counters.fetched == 2
    assert ("skipped", "page_limit") in outcomes(sink).values()
    assert_counters_add_up(sink)


async def test_cancel_stops_a_crawl_with_one_cancelled_event() -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return handler(request)

    crawl, sink = make_crawl(transport=httpx.MockTransport(slow))
    task = asyncio.create_task(crawl.run())
    await asyncio.sleep(0.05)
    crawl.cancel()
    terminal = await asyncio.wait_for(task, 1.0)
    assert terminal is not None
    assert terminal.type == "CrawlCancelled"
    assert [e.type for e in sink.events].count("CrawlCancelled") == 1
    assert_counters_add_up(sink)


async def test_address_guard_applies_the_address_policy_to_literal_hosts() -> None:
    # The policy's cases are crawl_netguard's tests; here, that the guard asks it.
    assert await AddressGuard().refusal("8.8.8.8", 80) is None
    assert await AddressGuard().refusal("[::ffff:127.0.0.1]", 80) == "blocked_address"
    assert await AddressGuard().refusal("100.64.0.1", 80) == "blocked_address"
    assert await AddressGuard(["100.64.0.0/10"]).refusal("100.64.0.1", 80) is None


SITEMAP_SITE: dict[str, tuple[int, dict[str, str], str]] = {
    "/": (200, {}, html("Home", "/docs/a", "/blog/x", "/docs/alias")),
    "/docs/a": (200, {}, html("Docs A", "/docs/b")),
    "/docs/b": (200, {}, html("Docs B")),
    "/docs/only-in-sitemap": (200, {}, html("Hidden")),
    "/docs/alias": (
        200,
        {},
        html("Alias", body=f"<link rel=canonical href='/docs/canon'><p>alias</p>{TEXT}"),
    ),
    "/docs/canon": (200, {}, html("Canon")),
    "/blog/x": (200, {}, html("Blog")),
    "/sitemap.xml": (
        200,
        {"content-type": "application/xml"},
        "<urlset><url><loc>http://127.0.0.1:9/docs/only-in-sitemap</loc></url>"
        "<url><loc>http://elsewhere.example/</loc></url></urlset>",
    ),
}


def sitemap_crawl(**request: Any) -> tuple[Crawl, Sink]:
    def serve(req: httpx.Request) -> httpx.Response:
        status, headers, body = SITEMAP_SITE.get(req.url.path, (404, {}, "nope"))
        return httpx.Response(
            status,
            headers={"content-type": "text/html", **headers},
            stream=httpx.ByteStream(body.encode()),
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(serve))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
    sink = Sink()
    command = CrawlRequested(
        job_id="j", tenant="t", request=CrawlRequest(url="http://127.0.0.1:9/", **request)
    )
    robots = RobotsCache(fetcher.fetch_text, "test-agent")
    return Crawl(command, CrawlPorts(fetcher, robots, extract, sink), worker_id="w"), sink


async def test_patterns_sitemaps_and_canonical_links_shape_the_crawl() -> None:
    crawl, sink = sitemap_crawl(include=["/docs/"], exclude=["/docs/b$"])
    terminal = await crawl.run()
    assert terminal is not None
    assert outcomes(sink) == {
        "/": ("fetched", None),
        "/docs/a": ("fetched", None),
        "/docs/b": ("skipped", "out_of_scope"),
        "/blog/x": ("skipped", "out_of_scope"),
        "/docs/only-in-sitemap": ("fetched", None),
        "http://elsewhere.example/": ("skipped", "out_of_scope"),
        "/docs/alias": ("skipped", "non_canonical"),
        "/docs/canon": ("fetched", None),
    }
    assert terminal.counters.discovered == 8
    assert_counters_add_up(sink)


async def test_sitemap_only_does_not_follow_links_and_skip_reads_no_sitemap() -> None:
    crawl, sink = sitemap_crawl(sitemap="only")
    await crawl.run()
    assert set(outcomes(sink)) == {"/", "/docs/only-in-sitemap", "http://elsewhere.example/"}
    crawl, sink = sitemap_crawl(sitemap="skip", max_depth=0)
    await crawl.run()
    assert set(outcomes(sink)) == {"/", "/docs/a", "/blog/x", "/docs/alias"}
    assert_counters_add_up(sink)
    # Sitemap URLs are at depth 1: with max_depth 0 no sitemap is read at all.
    crawl, sink = sitemap_crawl(max_depth=0)
    await crawl.run()
    assert set(outcomes(sink)) == {"/", "/docs/a", "/blog/x", "/docs/alias"}


class SlowSink(Sink):
    """Confirms each event after a delay, like a broker under load."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = 0
        self.peak = 0

    async def emit(self, event: Any) -> None:
        self.pending += 1
        self.peak = max(self.peak, self.pending)
        await asyncio.sleep(0.01)
        self.pending -= 1
        self.events.append(event)


async def test_events_are_published_concurrently_and_the_terminal_one_last() -> None:
    sink = SlowSink()
    crawl, _ = make_crawl(max_depth=2, sink=sink)
    terminal = await crawl.run()
    assert sink.peak > 1
    assert sink.events[0].type == "CrawlStarted"
    assert sink.events[-1] is terminal
    assert len(outcomes(sink)) == 9
    assert_counters_add_up(sink)


async def test_a_failed_publish_fails_the_crawl_instead_of_losing_events() -> None:
    class Broken(Sink):
        async def emit(self, event: Any) -> None:
            if event.type in ("PageRecorded", "PagesRecorded"):
                raise ConnectionError("broker gone")
            self.events.append(event)

    crawl, _ = make_crawl(max_depth=2, sink=Broken())
    with pytest.raises(ConnectionError):
        await crawl.run()


async def test_progress_goes_out_when_reported_and_never_after_the_terminal_event() -> None:
    release = asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        if request.url.path not in ("/", "/robots.txt", "/sitemap.xml"):
            await release.wait()
        return handler(request)

    crawl, sink = make_crawl(transport=httpx.MockTransport(held))
    task = asyncio.create_task(crawl.run())
    async with asyncio.timeout(10):
        while crawl.counters.fetched < 1:  # noqa: ASYNC110 (the start page recorded, the rest held)
            await asyncio.sleep(0.01)
    assert not [e for e in sink.events if isinstance(e, CrawlProgressed)]
    await crawl.report_progress(crawl.counters)
    assert [e.counters.fetched for e in sink.events if isinstance(e, CrawlProgressed)] == [1]
    release.set()
    terminal = await task
    assert terminal is not None
    assert terminal.counters.fetched > 1  # the end carries the final counters
    await crawl.report_progress(crawl.counters)
    assert sink.events[-1] is terminal, "nothing may outrank the terminal event's counters"


async def test_page_records_go_out_in_batches_when_full_at_each_cut_and_before_the_end() -> None:
    alone, reference = make_crawl(record_batch=1)
    await alone.run()
    release = asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/c":
            await release.wait()
        return handler(request)

    crawl, sink = make_crawl(record_batch=5, transport=httpx.MockTransport(held))
    task = asyncio.create_task(crawl.run())
    async with asyncio.timeout(10):
        while crawl.counters.fetched < 3:  # noqa: ASYNC110 (all but /c and what follows it)
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    # Only full batches went out on their own, so some records wait...
    batches = [e for e in sink.events if isinstance(e, PagesRecorded)]
    assert batches
    assert all(len(e.pages) == 5 for e in batches)
    sent = sum(len(e.pages) for e in batches)
    waiting = len(crawl._records)
    assert (sent, waiting) == (5, 1)  # the site's 6 records before /c
    # ...until a cut: what it counts goes out with it, and is confirmed.
    await asyncio.wait_for(crawl.cut().confirmed(), 5)
    singles = [e for e in sink.events if isinstance(e, PageRecorded)]
    assert len(singles) == 1, "a batch of one goes out as a plain PageRecorded"
    assert not crawl._records
    release.set()
    terminal = await task
    assert sink.events[-1] is terminal  # the rest went out before the terminal event
    # The same ledger as records sent one by one, each URL once, each with its own seq.
    assert outcomes(sink) == outcomes(reference)
    records = page_records(sink.events)
    assert len({r.url for r in records}) == len(records)
    assert len({(r.attempt, r.seq) for r in records}) == len(records)
    assert not any(isinstance(e, PagesRecorded) for e in reference.events)
