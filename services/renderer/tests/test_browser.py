"""The renderer's browser for real (Debian's headless Chromium through Playwright), against
a local site that notes every request it gets: the page's document is never fetched again,
images, fonts and media are never asked for, a page past its time limit is answered with an
error, the page waits for its own requests still in flight, pages of one job share a context
(and pages of two jobs never do), and the browser is replaced after ``pages_per_browser``
pages."""

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
COOKIE_PAGE = b"""<!doctype html><html><head><script>
const seen = document.cookie.includes("visited=1") ? "cookie seen" : "no cookie";
document.cookie = "visited=1; path=/";
addEventListener("DOMContentLoaded", () => { document.body.textContent = seen; });
</script></head><body></body></html>"""
LATE_DATA_PAGE = b"""<!doctype html><html><head><script>
fetch("/late.json").then(r => r.json()).then(d => {
  document.getElementById("app").textContent = d.text; });
</script></head><body><div id="app">Loading</div></body></html>"""
ASSETS = {
    "/late.json": b'{"text": "Arrived late"}',
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
        if self.path == "/late.json":
            time.sleep(0.6)  # far longer than the quiet window
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


def request(url: str, body: bytes, job_id: str = "j") -> RenderRequested:
    return RenderRequested(
        job_id=job_id,
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
    # Its tab is closed, not kept: the next page gets a fresh one and renders.
    tabs = pool.tabs_created
    reply = await renderer(pool).render(request(f"{site}/page.html", PAGE), GATE)
    assert "Written by the script" in (reply.html or "")
    assert pool.tabs_created == tabs + 1


async def test_the_browser_is_replaced_after_its_pages_and_keeps_rendering(
    pool: BrowserPool, site: str
) -> None:
    pages = renderer(pool)
    for _ in range(5):
        reply = await pages.render(request(f"{site}/page.html", PAGE), GATE)
        assert "Written by the script" in (reply.html or "")
    assert pool.launched == 3  # 2 pages per browser: the first, then two replacements


async def test_the_page_is_taken_once_its_own_requests_are_done_not_after_a_fixed_pause(
    pool: BrowserPool, site: str
) -> None:
    reply = await renderer(pool).render(request(f"{site}/late.html", LATE_DATA_PAGE), GATE)

    assert reply.error is None
    assert "Arrived late" in (reply.html or "")
    assert reply.seconds < 2.0  # not the whole idle_wait


async def test_pages_of_one_job_share_a_context_and_pages_of_two_jobs_never_do(site: str) -> None:
    pool = BrowserPool(CHROMIUM, pages_per_browser=100, pages_per_context=2)
    await pool.start()
    try:
        pages = renderer(pool)

        async def text(job: str) -> str:
            reply = await pages.render(request(f"{site}/c.html", COOKIE_PAGE, job), GATE)
            assert reply.error is None
            return reply.html or ""

        assert "no cookie" in await text("a")
        assert "no cookie" in await text("b")  # a's cookie is not b's
        assert "cookie seen" in await text("a")  # a's second page: a's context
        assert "no cookie" in await text("a")  # a's third page: past 2 pages, a fresh context
        assert pool.contexts_created == 3
        assert pool.tabs_created == 3  # one page at a time: each context's one tab reused
    finally:
        await pool.close()


async def test_idle_and_cancelled_jobs_contexts_are_closed(site: str) -> None:
    now = [0.0]
    pool = BrowserPool(CHROMIUM, pages_per_browser=100, context_idle=10, clock=lambda: now[0])
    await pool.start()
    try:
        pages = renderer(pool)
        for job in ("a", "b"):
            await pages.render(request(f"{site}/page.html", PAGE, job), GATE)
        assert pool.open_contexts == 2
        assert await pool.sweep() == 0
        pool.retire("a")  # its job was cancelled
        assert await pool.sweep() == 1
        now[0] = 11.0
        assert await pool.sweep() == 1
        assert pool.open_contexts == 0
    finally:
        await pool.close()
