"""Re-crawls (``since``): conditional requests from the earlier job's records, ``unchanged``
pages not extracted again (their links still followed), and counts of what was added,
changed, removed and unchanged. The earlier job is an in-memory baseline made from the first
crawl's own events."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from crawl_contracts import CrawlFailed, CrawlRequest, CrawlRequested, Outcome, page_records
from crawl_worker.baseline import Baseline, BaselineError, EarlierPage
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.extract import Extracted, extract_page
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.robots import RobotsCache
from crawl_worker.safety import AddressGuard

from .fakes import Sink

BASE = "http://127.0.0.1:9"
WORDS = "Plenty of words so that the extractor keeps this paragraph of the page. " * 4


def html(title: str, *links: str, extra: str = "") -> str:
    anchors = "".join(f"<a href='{href}'>{href}</a> " for href in links)
    return (
        f"<html lang=en><head><title>{title}</title></head><body><p>This page is {title}.</p>"
        f"<p>{WORDS}</p><p>{extra}</p><p>{anchors}</p></body></html>"
    )


class Site:
    """Pages by path; answers conditional requests by ETag (a hash of the body), and keeps
    a log of (path, status) as a server's access log would."""

    def __init__(self, pages: dict[str, str]) -> None:
        self.pages = dict(pages)
        self.log: list[tuple[str, int]] = []
        self.footer = ""  # appended to every page's bytes: other bytes, the same text

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/robots.txt":
            return self._answer(path, 404, b"", {})
        if path not in self.pages:
            return self._answer(path, 404, b"gone", {"content-type": "text/html"})
        body = (self.pages[path] + self.footer).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {"content-type": "text/html", "etag": etag}
        if request.headers.get("if-none-match") == etag:
            return self._answer(path, 304, b"", {"etag": etag})
        return self._answer(path, 200, body, headers)

    def _answer(
        self, path: str, status: int, body: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        self.log.append((path, status))
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


class Earlier:
    """A finished job's records, as ``MongoBaseline`` reads them from the ledger."""

    def __init__(self, job_id: str, sink: Sink) -> None:
        self.job_id = job_id
        self.records = {r.url: r.model_dump(mode="json") for r in page_records(sink.events)}
        self.pages = sum(
            1 for r in self.records.values() if r["outcome"] in ("fetched", "unchanged")
        )

    async def page(self, url: str) -> EarlierPage | None:
        record = self.records.get(url)
        if record is None or record["outcome"] not in ("fetched", "unchanged"):
            return None
        return EarlierPage.of_record(record)


class Baselines:
    def __init__(self, *jobs: Earlier) -> None:
        self.jobs = {job.job_id: job for job in jobs}

    async def open(self, job_id: str, *, tenant: str, start_url: str) -> Baseline:
        if job_id not in self.jobs:
            raise BaselineError(f"no earlier job {job_id} of this tenant")
        return self.jobs[job_id]


async def extract(body: bytes, url: str) -> Extracted:
    extract.calls.append(url)  # type: ignore[attr-defined]
    return extract_page(body, url)


extract.calls = []  # type: ignore[attr-defined]


async def crawl(
    site: Site, job_id: str, *, since: str | None = None, baselines: Baselines | None = None
) -> tuple[Any, Sink]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(site.handler))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
    request = CrawlRequest(url=BASE + "/", max_depth=5, since=since)
    command = CrawlRequested(job_id=job_id, tenant="t", request=request)
    sink = Sink()
    robots = RobotsCache(fetcher.fetch_text, "test-agent")
    ports = CrawlPorts(fetcher, robots, extract, sink, baselines)
    terminal = await Crawl(command, ports, worker_id="w").run()
    return terminal, sink


def outcomes(sink: Sink) -> dict[str, tuple[str, str | None]]:
    return {
        r.url.removeprefix(BASE): (r.outcome.value, r.change) for r in page_records(sink.events)
    }


SITE = {
    "/": html("Home", "/a", "/b", "/c", "/d"),
    "/a": html("A", "/"),
    "/b": html("B", "/deep"),  # /deep is reached through /b only
    "/c": html("C"),
    "/d": html("D"),
    "/deep": html("Deep"),
}


async def test_a_recrawl_asks_conditionally_and_says_what_changed() -> None:
    site = Site(SITE)
    first, first_sink = await crawl(site, "j1")
    assert first.counters.fetched == 6
    earlier = Earlier("j1", first_sink)

    # Change two pages (one of them gains a link to a new page), delete one.
    site.pages["/a"] = html("A", "/", "/new", extra="A has news.")
    site.pages["/c"] = html("C", extra="C was rewritten.")
    site.pages["/new"] = html("New")
    del site.pages["/d"]
    site.log.clear()
    extract.calls.clear()  # type: ignore[attr-defined]

    second, sink = await crawl(site, "j2", since="j1", baselines=Baselines(earlier))
    assert second.type == "CrawlCompleted"
    assert outcomes(sink) == {
        "/": ("unchanged", "unchanged"),
        "/a": ("fetched", "changed"),
        "/b": ("unchanged", "unchanged"),
        "/c": ("fetched", "changed"),
        "/d": ("failed", None),
        "/deep": ("unchanged", "unchanged"),  # found through /b, whose body was not read
        "/new": ("fetched", "added"),
    }
    c = second.counters
    assert (c.added, c.changed, c.removed, c.unchanged) == (1, 2, 1, 3)
    assert c.discovered == c.queued + c.in_flight + c.fetched + c.failed + c.skipped + c.unchanged
    # The server answered 304 to the unchanged pages; only changed or new ones were read.
    assert sorted(p for p, status in site.log if status == 304) == ["/", "/b", "/deep"]
    assert sorted(u.removeprefix(BASE) for u in extract.calls) == ["/a", "/c", "/new"]  # type: ignore[attr-defined]
    # An unchanged page's record carries the earlier job's text and fields.
    records = {r.url.removeprefix(BASE): r for r in page_records(sink.events)}
    before = earlier.records[BASE + "/b"]
    assert records["/b"].markdown == before["markdown"]
    assert records["/b"].content_hash == before["content_hash"]
    assert records["/b"].title == "B"
    assert records["/b"].reason == "not_modified"
    assert records["/b"].etag == before["etag"]


async def test_the_same_text_in_other_bytes_is_unchanged_and_a_chain_of_recrawls_holds() -> None:
    site = Site(SITE)
    _, first_sink = await crawl(site, "j1")
    site.footer = "<!-- rendered at 12:00 -->"  # every body differs, no text does
    second, second_sink = await crawl(
        site, "j2", since="j1", baselines=Baselines(Earlier("j1", first_sink))
    )
    assert {o for o, _ in outcomes(second_sink).values()} == {"unchanged"}
    assert {r.reason for r in page_records(second_sink.events)} == {"same_text"}
    assert second.counters.unchanged == 6
    assert (second.counters.added, second.counters.changed, second.counters.removed) == (0, 0, 0)
    # The next re-crawl compares with the second job, whose records carry its own ETags.
    site.log.clear()
    third, _ = await crawl(site, "j3", since="j2", baselines=Baselines(Earlier("j2", second_sink)))
    assert third.counters.unchanged == 6
    pages = [status for path, status in site.log if path not in ("/robots.txt", "/sitemap.xml")]
    assert pages == [304] * 6


async def test_a_recrawl_of_an_unknown_job_fails_with_invalid_since() -> None:
    terminal, sink = await crawl(Site(SITE), "j2", since="nope", baselines=Baselines())
    assert isinstance(terminal, CrawlFailed)
    assert terminal.error_code == "invalid_since"
    assert "nope" in terminal.error
    assert page_records(sink.events) == []


async def test_a_crawl_without_since_records_validators_and_links_for_a_later_one() -> None:
    _, sink = await crawl(Site(SITE), "j1")
    home = next(r for r in page_records(sink.events) if r.url == BASE + "/")
    assert home.outcome is Outcome.FETCHED
    assert home.change is None
    assert home.etag is not None
    assert home.body_hash is not None
    assert home.links is not None
    assert {link.removeprefix(BASE) for link in home.links} == {"/a", "/b", "/c", "/d"}


async def test_unchanged_pages_count_against_max_pages() -> None:
    site = Site(SITE)
    _, first_sink = await crawl(site, "j1")
    client = httpx.AsyncClient(transport=httpx.MockTransport(site.handler))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
    request = CrawlRequest(url=BASE + "/", max_depth=5, max_pages=3, since="j1")
    ports = CrawlPorts(
        fetcher,
        RobotsCache(fetcher.fetch_text, "test-agent"),
        extract,
        Sink(),
        Baselines(Earlier("j1", first_sink)),
    )
    terminal = await Crawl(
        CrawlRequested(job_id="j2", tenant="t", request=request), ports, worker_id="w"
    ).run()
    assert terminal is not None
    c = terminal.counters
    assert c.unchanged + c.fetched + c.failed == 3
    assert terminal.stop_reason.value == "page_limit"
    assert c.removed == 0  # a crawl cut short says nothing of the pages it did not reach


async def test_a_page_with_too_many_links_is_kept_without_them_and_read_again_next_time() -> None:
    many = "".join(f"<a href='/p{i}'>p</a>" for i in range(5_001))
    site = Site({"/": html("Home", extra=many)})
    _, first_sink = await crawl(site, "j1")
    home = next(r for r in page_records(first_sink.events) if r.url == BASE + "/")
    assert home.links is None  # too many to keep
    earlier = await Earlier("j1", first_sink).page(BASE + "/")
    assert earlier is not None
    site.log.clear()
    _, sink = await crawl(site, "j2", since="j1", baselines=Baselines(Earlier("j1", first_sink)))
    assert (BASE + "/p4999") in {r.url for r in page_records(sink.events)}  # links followed
    assert ("/", 200) in site.log  # read again, not answered 304


async def test_an_extraction_past_its_time_is_a_failed_page_and_the_crawl_goes_on() -> None:
    async def slow(body: bytes, url: str) -> Extracted:
        if url.endswith("/b"):
            raise TimeoutError
        return extract_page(body, url)

    client = httpx.AsyncClient(transport=httpx.MockTransport(Site(SITE).handler))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
    sink = Sink()
    ports = CrawlPorts(fetcher, RobotsCache(fetcher.fetch_text, "test-agent"), slow, sink)
    request = CrawlRequest(url=BASE + "/", max_depth=5)
    terminal = await Crawl(
        CrawlRequested(job_id="j", tenant="t", request=request), ports, worker_id="w"
    ).run()
    assert terminal is not None
    assert terminal.type == "CrawlCompleted"
    assert outcomes(sink)["/b"] == ("failed", None)
    b = next(r for r in page_records(sink.events) if r.url == BASE + "/b")
    assert b.reason == "extraction_timeout"
    assert terminal.counters.fetched == 4  # /, /a, /c, /d; /deep is reached only through /b
