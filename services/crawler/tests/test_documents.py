"""PDFs to markdown: text, title and page count from a readable file; a damaged or encrypted
one is a named failure; the crawl engine records each with its reason, never hangs on it."""

from __future__ import annotations

import pickle
from pathlib import Path

import httpx
import pytest

from crawl_contracts import CrawlRequest, CrawlRequested, page_records
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.documents import DocumentError, extract_pdf, is_pdf
from crawl_worker.extract import extract_page
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.robots import RobotsCache
from crawl_worker.safety import AddressGuard

from .fakes import Sink, extract

SITE = Path(__file__).resolve().parents[3] / "tests" / "sites" / "documents"


def read(name: str) -> bytes:
    return (SITE / name).read_bytes()


def test_a_readable_pdf_becomes_markdown_under_its_title_with_its_page_count() -> None:
    page = extract_pdf(read("oaks.pdf"), "http://h/oaks.pdf")
    assert page.title == "Oaks of Europe"
    assert page.page_count == 2
    assert page.markdown.startswith("# Oaks of Europe\n\n")
    assert "The English oak grows slowly and lives for many centuries." in page.markdown
    assert "Acorns ripen in autumn" in page.markdown
    # one page's text after the other, each its own paragraph
    assert page.markdown.index("centuries.") < page.markdown.index("Acorns")
    assert "\n\nAcorns" in page.markdown
    assert page.content_hash is not None
    assert page.links == []


def test_extract_page_sends_a_pdf_to_the_document_reader_whatever_its_name() -> None:
    assert is_pdf(read("oaks.pdf"))
    assert not is_pdf(b"<html><body>%PDF- is only text here</body></html>" + b" " * 2000)
    assert extract_page(read("oaks.pdf"), "http://h/x") == extract_pdf(read("oaks.pdf"), "u")


@pytest.mark.parametrize(
    ("name", "reason", "detail"),
    [
        ("damaged.pdf", "pdf_damaged", "Data format error"),
        ("locked.pdf", "pdf_encrypted", "password"),
    ],
)
def test_a_pdf_that_cannot_be_read_is_a_named_failure(name: str, reason: str, detail: str) -> None:
    with pytest.raises(DocumentError) as raised:
        extract_pdf(read(name), f"http://h/{name}")
    assert raised.value.reason == reason
    assert detail in raised.value.detail


def test_a_document_error_crosses_process_bounds_with_its_reason() -> None:
    error = pickle.loads(pickle.dumps(DocumentError("pdf_damaged", "why")))
    assert (error.reason, error.detail) == ("pdf_damaged", "why")


def handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path.lstrip("/") or "index.html"
    if path == "fake.pdf":
        body, kind = b"<html>not a pdf at all</html>", "application/pdf"
    elif (SITE / path).is_file():
        body = (SITE / path).read_bytes()
        kind = "application/pdf" if path.endswith(".pdf") else "text/html"
    else:
        body, kind = b"", "text/plain"
        return httpx.Response(404, headers={"content-type": kind}, stream=httpx.ByteStream(body))
    if path == "index.html":
        body = body.replace(b"</ul>", b'<li><a href="/fake.pdf">fake</a></li></ul>')
    return httpx.Response(200, headers={"content-type": kind}, stream=httpx.ByteStream(body))


async def test_a_crawl_records_each_document_with_its_outcome_reason_and_pages() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
    command = CrawlRequested(
        job_id="j", tenant="t", request=CrawlRequest(url="http://127.0.0.1:9/", max_depth=1)
    )
    sink = Sink()
    robots = RobotsCache(fetcher.fetch_text, "test-agent")
    terminal = await Crawl(command, CrawlPorts(fetcher, robots, extract, sink), worker_id="w").run()
    assert terminal is not None
    assert terminal.type == "CrawlCompleted"
    records = {r.url.removeprefix("http://127.0.0.1:9"): r for r in page_records(sink.events)}
    oaks = records["/oaks.pdf"]
    assert (oaks.outcome.value, oaks.title, oaks.page_count) == ("fetched", "Oaks of Europe", 2)
    assert oaks.markdown is not None
    assert "English oak" in oaks.markdown
    assert oaks.content_type == "application/pdf"
    damaged, locked, fake = records["/damaged.pdf"], records["/locked.pdf"], records["/fake.pdf"]
    assert (damaged.outcome.value, damaged.reason) == ("failed", "pdf_damaged")
    assert damaged.error is not None
    assert (locked.outcome.value, locked.reason) == ("failed", "pdf_encrypted")
    assert (fake.outcome.value, fake.reason) == ("failed", "pdf_damaged")
    assert fake.error == "served as a PDF, without a PDF signature"
    assert terminal.counters.fetched == 2  # the index and the readable PDF
    assert terminal.counters.failed == 3
