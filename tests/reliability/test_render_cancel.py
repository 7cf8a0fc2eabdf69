"""Cancel while pages are rendering: the crawl still stops within a second.

The site's pages show no text until a script writes it, and that script is answered only
after a few seconds, so every page spends seconds in the renderer's browser. The job is
cancelled while the renderer's gauge says pages are being rendered; the crawler must not
wait for those renders (their replies find nobody), and its ``CrawlCancelled`` follows the
cancel request within a second. The renderer hears the cancel as well and stops rendering
the job's pages.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from crawl_stack import Services, Stack, running_stack
from tests.reliability.support import (
    EventProbe,
    eventually,
    private_logs,
    wait_status,
)

pytestmark = pytest.mark.e2e

SCRIPT_DELAY = 4.0  # seconds before the page's script is answered

ENV = {
    "CRAWL_WORKER_HEARTBEAT_INTERVAL": "5",
    "CRAWL_WORKER_CHECKPOINT_INTERVAL": "5",
    "CRAWL_STATUS_STALL_AFTER": "60",
}

_PAGE = """<!doctype html><html><head><title>Page {n}</title>
<script src="/app.js?n={n}" defer></script></head>
<body><div id="app">Loading…</div></body></html>"""

_SCRIPT = (
    'document.getElementById("app").innerHTML = "<p>Page {n} as its script wrote it, with '
    "enough words to be taken for the page's main text by the extraction that follows.</p>\"\n"
    "  + [1, 2, 3].map(function (i) {{ return '<a href=\"/page-' + ({n} * 3 + i) + "
    "'.html\">next</a>'; }}).join(' ');\n"
)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/robots.txt":
            self._send(404, "text/plain", "")
        elif match := re.fullmatch(r"/(?:page-(\d+)\.html)?", self.path):
            self._send(200, "text/html", _PAGE.format(n=match.group(1) or 0))
        elif match := re.fullmatch(r"/app\.js\?n=(\d+)", self.path):
            time.sleep(SCRIPT_DELAY)
            self._send(200, "text/javascript", _SCRIPT.format(n=int(match.group(1))))
        else:
            self._send(404, "text/plain", "")

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def slow_script_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(services, extra_env=ENV, logs=private_logs("render-cancel")) as running:
        yield running


async def rendering_now(stack: Stack) -> float:
    """The renderer's ``renderer_pages_rendering`` gauge."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{stack.metrics_urls['renderer-0']}/metrics")).text
    match = re.search(r"^renderer_pages_rendering (\S+)$", text, re.MULTILINE)
    assert match is not None, text
    return float(match.group(1))


async def test_cancelling_a_crawl_while_its_pages_render_ends_it_within_a_second(
    stack: Stack, probe: EventProbe
) -> None:
    with slow_script_site() as site:
        async with httpx.AsyncClient(
            base_url=stack.api_url, headers=stack.headers, timeout=30
        ) as client:
            created = await client.post(
                "/api/v1/crawls", json={"url": site, "max_pages": 100, "render": "auto"}
            )
            assert created.status_code == 202
            location = created.headers["Location"]
            job_id = created.json()["id"]

            async def rendering_after_a_rendered_page() -> bool:
                job = (await client.get(location)).json()
                return job["counters"]["fetched"] >= 1 and await rendering_now(stack) >= 1

            await eventually(rendering_after_a_rendered_page, within=90, every=0.1)
            asked = time.monotonic()
            assert (await client.delete(location)).status_code == 202
            job = await wait_status(client, location, {"completed", "failed", "cancelled"}, 30)
            took = time.monotonic() - asked

            assert job["status"] == "cancelled", job
            events = await probe.of(job_id)
            requested = next(e for e in events if e["type"] == "CrawlCancelRequested")
            cancelled = next(e for e in events if e["type"] == "CrawlCancelled")
            stopped = datetime.fromisoformat(cancelled["occurred_at"]) - datetime.fromisoformat(
                requested["occurred_at"]
            )
            assert stopped.total_seconds() < 1.0, f"the crawler stopped {stopped} after the request"
            print(f"render cancel: crawler stopped after {stopped}, API read it after {took:.3f} s")
            pages = (await client.get(f"{location}/pages", params={"limit": 1000})).json()["items"]
            fetched = [p for p in pages if p["outcome"] == "fetched"]
            assert fetched
            assert all(p["rendered"] for p in fetched)
            assert all("as its script wrote it" in p["markdown"] for p in fetched)
            assert any(p["reason"] == "cancelled" for p in pages)  # stopped mid-render

            # The renderer heard the cancel too: it stops rendering the job's pages at once,
            # rather than when their scripts arrive.
            async def idle() -> bool:
                return await rendering_now(stack) == 0

            await eventually(idle, within=SCRIPT_DELAY / 2)
            async with httpx.AsyncClient(timeout=5) as metrics:
                scrape = (await metrics.get(f"{stack.metrics_urls['renderer-0']}/metrics")).text
            assert 'renderer_pages_total{result="cancelled"}' in scrape
