"""The renderer's browser for real (Debian's headless Chromium through Playwright), against
a local site that notes every request it gets: the page's document is never fetched again,
images, fonts and media are never asked for, a page past its time limit is answered with an
error, and the browser is replaced after ``pages_per_browser`` pages."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from crawl_contracts import RenderRequested
from crawl_netguard import AddressPolicy, pinned_transport
from crawl_politeness import HostGate, PolitenessLimits
from crawl_renderer.browser import BrowserPool
from crawl_renderer.render import PageLimits, PageRenderer
from crawl_renderer.subrequests import Subrequests

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
PAGE = b"""<!doctype html><html><head><title>T</title>
<link rel="stylesheet" href="/style.css"><script src="/app.js"></script></head>
<body><img src="/photo.png"><video src="/clip.mp4"></video>
<div id="app">Loading</div></body></html>"""
SLOW_PAGE = (
    b"""<!doctype html><html><head><script src="/never.js"></script></head><body></body></html>"""
)
ASSETS = {
    "/app.js": b"addEventListener('DOMContentLoaded', () => {"
    b" document.getElementById('app').textContent = 'Written by the script'; });",
    "/style.css": b"body { font-family: 'Web', serif; }"
    b" @font-face { font-family: Web; src: url(/f.woff2); }",
}


class _Site(BaseHTTPRequestHandler):
    asked: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.asked.append(self.path)
        if self.path == "/never.js":
            time.sleep(5)
        body = ASSETS.get(self.path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def pool() -> AsyncIterator[BrowserPool]:
    if not HAVE_CHROMIUM:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    pool = BrowserPool(CHROMIUM, pages_per_browser=2)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.close()


def renderer(pool: BrowserPool, timeout: float = 10.0) -> PageRenderer:
    policy = AddressPolicy(["127.0.0.0/8"])
    client = httpx.AsyncClient(transport=pinned_transport(policy.permits))
    return PageRenderer(
        pool, Subrequests(client, policy, max_bytes=1 << 20), PageLimits(timeout=timeout)
    )


def request(url: str, body: bytes) -> RenderRequested:
    return RenderRequested(
        job_id="j",
        tenant="t",
        url=url,
        body=body,
        deadline=datetime.now(UTC) + timedelta(seconds=30),
    )


GATE = HostGate(PolitenessLimits())


async def test_a_page_is_rendered_from_the_crawlers_bytes_without_images_fonts_or_media(
    pool: BrowserPool, site: str
) -> None:
    _Site.asked.clear()
    reply = await renderer(pool).render(request(f"{site}/page.html", PAGE), GATE)

    assert reply.error is None
    assert "Written by the script" in (reply.html or "")
    assert sorted(_Site.asked) == ["/app.js", "/style.css"]  # not the page, no media
    assert reply.blocked == ()


async def test_a_page_past_its_time_limit_is_answered_with_an_error(
    pool: BrowserPool, site: str
) -> None:
    started = time.monotonic()
    reply = await renderer(pool, timeout=1.0).render(request(f"{site}/slow.html", SLOW_PAGE), GATE)

    assert reply.html is None
    assert reply.error == "rendering took longer than 1.0 s"
    assert time.monotonic() - started < 4


async def test_the_browser_is_replaced_after_its_pages_and_keeps_rendering(
    pool: BrowserPool, site: str
) -> None:
    pages = renderer(pool)
    for _ in range(5):
        reply = await pages.render(request(f"{site}/page.html", PAGE), GATE)
        assert "Written by the script" in (reply.html or "")
    assert pool.launched == 3  # 2 pages per browser: the first, then two replacements
