"""The render modes and the ``auto`` rule, and how the engine uses a renderer: pages are
extracted from the rendered HTML and recorded ``rendered``; a failure or refused requests
become job log lines; no renderer at all is said once per crawl."""

from __future__ import annotations

import httpx
import pytest

from crawl_contracts import (
    BlockedRequest,
    CrawlLogged,
    CrawlRequest,
    CrawlRequested,
    PageRecorded,
    PageRendered,
    RenderMode,
    page_records,
)
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.rendering import RendererUnavailableError, needs_rendering
from crawl_worker.robots import RobotsCache
from crawl_worker.safety import AddressGuard

from .fakes import Sink, extract

WORDS = "Plenty of words so that the extractor keeps this paragraph as the main text. "
SHELL = (
    "<html><head><title>App</title><script src='/bundle.js'></script></head>"
    "<body><div id=root>Loading…</div></body></html>"
)
RENDERED = (
    "<html><head><title>App</title></head><body><article>"
    f"<p>Rendered text. {WORDS * 4}</p><a href='/next'>next</a></article></body></html>"
)


# -- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (SHELL, True),  # a script bundle and "Loading…"
        ("<html><body><script>" + "x=1;" * 300 + "</script><p>Hi</p></body></html>", True),
        ("<html><body><p>No scripts at all, little text.</p></body></html>", False),
        (f"<html><head><script src=a.js></script></head><body><p>{WORDS * 4}</p></body>", False),
        ("<html><body><script>var small = 1;</script><p>Hi</p></body></html>", False),
        (  # JSON-LD is data, not a script that writes the page
            '<html><head><script type="application/ld+json">{"@type": "Thing"}</script>'
            "</head><body><p>Hi</p></body></html>",
            False,
        ),
        (  # text in <noscript> and <style> is not the page's visible text
            f"<html><head><style>p {{ {'color: red; ' * 40} }}</style><script src=a.js>"
            f"</script></head><body><noscript>{WORDS * 4}</noscript></body></html>",
            True,
        ),
    ],
)
def test_auto_renders_pages_that_load_scripts_and_show_little_text(
    html: str, expected: bool
) -> None:
    assert needs_rendering(RenderMode.AUTO, html.encode()) is expected


def test_never_and_always_do_not_look_at_the_page() -> None:
    assert needs_rendering(RenderMode.NEVER, SHELL.encode()) is False
    assert needs_rendering(RenderMode.ALWAYS, b"<p>anything</p>") is True


def test_a_request_renders_auto_unless_it_says_otherwise() -> None:
    assert CrawlRequest(url="http://example.com/").render is RenderMode.AUTO
    request = CrawlRequest.model_validate({"url": "http://example.com/", "render": "never"})
    assert request.render is RenderMode.NEVER
    assert request.model_dump(mode="json")["render"] == "never"


# -- the engine ------------------------------------------------------------------------------


class FakeRenderer:
    """Answers every page with ``html`` (or ``error``), refusing ``blocked``."""

    def __init__(
        self,
        html: str | None = RENDERED,
        *,
        error: str | None = None,
        blocked: tuple[BlockedRequest, ...] = (),
        unavailable: bool = False,
    ) -> None:
        self.html, self.error, self.blocked, self.unavailable = html, error, blocked, unavailable
        self.asked: list[tuple[str, bytes]] = []

    async def render(
        self, command: CrawlRequested, url: str, body: bytes, content_type: str
    ) -> PageRendered:
        if self.unavailable:
            raise RendererUnavailableError("no renderer is running")
        self.asked.append((url, body))
        html = (
            self.html.replace("Rendered text.", f"Rendered text of {url}.") if self.html else None
        )
        return PageRendered(
            job_id=command.job_id, url=url, html=html, error=self.error, blocked=self.blocked
        )


def serve(request: httpx.Request) -> httpx.Response:
    pages = {"/": SHELL, "/next": SHELL.replace("App", "Next")}
    body = pages.get(request.url.path)
    if body is None:
        return httpx.Response(404, stream=httpx.ByteStream(b"nope"))
    # stream=..., as from a network: the fetcher reads the raw stream itself
    return httpx.Response(
        200, headers={"content-type": "text/html"}, stream=httpx.ByteStream(body.encode())
    )


def crawl_with(renderer: FakeRenderer | None, render: str = "auto") -> tuple[Crawl, Sink]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(serve))
    fetcher = Fetcher(client, AddressGuard(["127.0.0.0/8"]), FetchLimits())
    sink = Sink()
    command = CrawlRequested(
        job_id="j",
        tenant="t",
        request=CrawlRequest.model_validate(
            {"url": "http://127.0.0.1:9/", "render": render, "sitemap": "skip"}
        ),
    )
    ports = CrawlPorts(
        fetcher, RobotsCache(fetcher.fetch_text, "ua"), extract, sink, renderer=renderer
    )
    return Crawl(command, ports, worker_id="w"), sink


def pages(sink: Sink) -> dict[str, PageRecorded]:
    return {
        e.url.removeprefix("http://127.0.0.1:9"): e
        for e in page_records(sink.events)
        if e.outcome.value == "fetched"
    }


def logs(sink: Sink) -> list[str]:
    return [e.message for e in sink.events if isinstance(e, CrawlLogged)]


async def test_a_rendered_page_is_extracted_from_the_rendered_html_and_says_so() -> None:
    renderer = FakeRenderer()
    crawl, sink = crawl_with(renderer)
    await crawl.run()

    fetched = pages(sink)
    assert set(fetched) == {"/", "/next"}  # the link exists only in the rendered page
    assert fetched["/"].rendered is True
    assert "Rendered text of http://127.0.0.1:9/." in (fetched["/"].markdown or "")
    # The browser got the crawler's bytes, not a URL to fetch again.
    assert renderer.asked[0] == ("http://127.0.0.1:9/", SHELL.encode())


async def test_never_sends_no_page_to_the_renderer() -> None:
    renderer = FakeRenderer()
    crawl, sink = crawl_with(renderer, "never")
    await crawl.run()

    assert renderer.asked == []
    assert pages(sink)["/"].rendered is False
    assert set(pages(sink)) == {"/"}


async def test_refused_requests_and_a_failed_render_are_logged_and_the_page_kept() -> None:
    blocked = (
        BlockedRequest(
            url="http://169.254.169.254/latest/meta-data/",
            reason="address not allowed: link-local, cloud metadata (169.254.169.254)",
        ),
    )
    crawl, sink = crawl_with(
        FakeRenderer(None, error="rendering took longer than 15.0 s", blocked=blocked)
    )
    await crawl.run()

    page = pages(sink)["/"]
    assert page.rendered is False
    assert logs(sink) == [
        "render blocked http://169.254.169.254/latest/meta-data/ (address not allowed: "
        "link-local, cloud metadata (169.254.169.254)) on http://127.0.0.1:9/",
        "render of http://127.0.0.1:9/ failed: rendering took longer than 15.0 s; recorded "
        "from the fetched HTML",
    ]


@pytest.mark.parametrize("renderer", [None, FakeRenderer(unavailable=True)])
async def test_without_a_renderer_pages_are_recorded_as_fetched_and_that_is_said_once(
    renderer: FakeRenderer | None,
) -> None:
    crawl, sink = crawl_with(renderer, "always")
    await crawl.run()

    assert pages(sink)["/"].rendered is False
    (line,) = logs(sink)
    assert line.startswith("render: ")
    assert line.endswith("pages that need rendering are recorded from their fetched HTML")
