"""The hostile site's server: a threaded ``http.server`` with one handler per route.

``python -m tests.sites.hostile.server [PORT]`` serves it until interrupted.
"""

from __future__ import annotations

import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ROBOTS_CRAWL_DELAY = 0.1
HUGE_BYTES = 50 * 1024 * 1024
BOMB_INFLATED_BYTES = 1024 * 1024 * 1024  # 1 GiB of zeros, about 1 MB on the wire
ENDLESS_FOR = 60.0  # the never-ending response stops trickling after this, whatever happens
FILLER = (
    "<p>This paragraph has enough ordinary words in it for the text extractor to keep it "
    "as main content of the page, which is what a crawler records.</p>"
)

# path -> (outcome, reason) that a crawl of "/" with max_depth=3 and exclude=["/excluded/"]
# must record. The duplicate pair is checked separately: which of the two is fetched first
# depends on timing.
EXPECTED: dict[str, tuple[str, str | None]] = {
    "/": ("fetched", None),
    "/private/secret.html": ("skipped", "robots"),
    "/from-sitemap.html": ("fetched", None),
    "/redirect-loop/a": ("failed", "redirect_loop"),
    "/redirect-private": ("skipped", "blocked_address"),
    "/busy": ("fetched", None),
    "/flaky": ("fetched", None),
    "/always-500": ("failed", "http_500"),
    "/endless": ("failed", "timeout"),
    "/huge": ("skipped", "too_large"),
    "/bomb": ("skipped", "decompression_bomb"),
    "/data.json": ("skipped", "content_type"),
    "/latin1-lie": ("fetched", None),
    "/broken": ("fetched", None),
    "/empty": ("failed", "extraction_error"),
    "/canonical-alias": ("skipped", "non_canonical"),
    "/canonical-target": ("fetched", None),
    "/page?a=1&b=2": ("fetched", None),
    "/depth/1": ("fetched", None),
    "/depth/2": ("fetched", None),
    "/depth/3": ("fetched", None),
    "/depth/4": ("skipped", "depth_limit"),
    "/excluded/page": ("skipped", "out_of_scope"),
    "/dup-a": ("duplicate pair", None),
    "/dup-b": ("duplicate pair", None),
}


def page(title: str, body: str = "", *, links: tuple[str, ...] = (), head: str = "") -> bytes:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"{head}</head><body><h1>{title}</h1>{body or FILLER}<ul>{anchors}</ul></body></html>"
    ).encode()


INDEX_LINKS = (
    "/private/secret.html",
    "/redirect-loop/a",
    "/redirect-private",
    "/busy",
    "/flaky",
    "/always-500",
    "/endless",
    "/huge",
    "/bomb",
    "/data.json",
    "/latin1-lie",
    "/broken#top",
    "/broken?utm_source=newsletter&utm_medium=email",
    "/empty",
    "/canonical-alias",
    "/page?b=2&a=1#section",
    "/page?a=1&b=2&utm_campaign=spring&fbclid=abc",
    "/depth/1",
    "/excluded/page",
    "/dup-a",
    "/dup-b",
    "javascript:alert(1)",
    "mailto:webmaster@example.invalid",
    "data:text/html,<p>inline</p>",
    "#top",
)


@dataclass
class HostileSite:
    """The running site: its base URL and what it was asked."""

    base: str
    requests: list[tuple[str, float]] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, path: str) -> int:
        with self.lock:
            self.requests.append((path, time.monotonic()))
            self.hits[path] += 1
            return self.hits[path]

    def starts(self, path: str) -> list[float]:
        with self.lock:
            return [t for p, t in self.requests if p == path]


class _Handler(BaseHTTPRequestHandler):
    site: HostileSite  # set on the subclass made per server
    server_version = "hostile/1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    # -- plumbing ------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, chunks: Iterator[bytes], headers: dict[str, str]) -> None:
        """A body without Content-Length, delimited by closing the connection."""
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the crawler hung up, as it should
        self.close_connection = True

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        key = parts.path + (f"?{parts.query}" if parts.query else "")
        count = self.site.record(key)
        route = ROUTES.get(parts.path)
        if route is None:
            self._send(404, b"<html><body>not here</body></html>")
            return
        route(self, count)

    # -- routes --------------------------------------------------------------------------

    def index(self, _: int) -> None:
        self._send(200, page("Hostile index", links=INDEX_LINKS))

    def robots(self, _: int) -> None:
        text = (
            "User-agent: *\n"
            "Disallow: /private/\n"
            f"Crawl-delay: {ROBOTS_CRAWL_DELAY}\n"
            f"Sitemap: {self.site.base}sitemap.xml\n"
        )
        self._send(200, text.encode(), "text/plain")

    def sitemap(self, _: int) -> None:
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{self.site.base}from-sitemap.html</loc></url>"
            f"<url><loc>{self.site.base}</loc></url>"
            "</urlset>"
        )
        self._send(200, xml.encode(), "application/xml")

    def plain(self, _: int) -> None:
        path = urlsplit(self.path).path
        self._send(200, page(f"Page {path}", f"<p>Only on {path}.</p>{FILLER}"))

    def loop(self, _: int) -> None:
        target = "/redirect-loop/b" if self.path.endswith("/a") else "/redirect-loop/a"
        self._send(302, headers={"Location": target})

    def to_metadata(self, _: int) -> None:
        self._send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    def busy(self, count: int) -> None:
        if count == 1:
            self._send(429, b"slow down", "text/plain", {"Retry-After": "1"})
        else:
            self._send(200, page("Busy, then fine", f"<p>Served after a 429.</p>{FILLER}"))

    def flaky(self, count: int) -> None:
        if count == 1:
            self._send(500, b"oops", "text/plain")
        else:
            self._send(200, page("Flaky, then fine", f"<p>Served after a 500.</p>{FILLER}"))

    def always_500(self, _: int) -> None:
        self._send(500, b"always broken", "text/plain")

    def endless(self, _: int) -> None:
        def trickle() -> Iterator[bytes]:
            yield b"<html><head><title>Endless</title></head><body>"
            deadline = time.monotonic() + ENDLESS_FOR
            while time.monotonic() < deadline:
                time.sleep(0.1)
                yield b"<p>more</p>"

        self._stream(trickle(), {"Content-Type": "text/html"})

    def huge(self, _: int) -> None:
        chunk = (FILLER * 400).encode()[: 64 * 1024]

        def body() -> Iterator[bytes]:
            yield b"<html><head><title>Huge</title></head><body>"
            sent = 0
            while sent < HUGE_BYTES:
                yield chunk
                sent += len(chunk)

        self._stream(body(), {"Content-Type": "text/html"})

    def bomb(self, _: int) -> None:
        def body() -> Iterator[bytes]:
            squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
            zeros = bytes(1024 * 1024)
            yield squeeze.compress(b"<html><head><title>Bomb</title></head><body>")
            for _ in range(BOMB_INFLATED_BYTES // len(zeros)):
                out = squeeze.compress(zeros)
                if out:
                    yield out
            yield squeeze.flush()

        self._stream(body(), {"Content-Type": "text/html", "Content-Encoding": "gzip"})

    def data_json(self, _: int) -> None:
        self._send(200, b'{"not": "html"}', "application/json")

    def latin1_lie(self, _: int) -> None:
        body = page(
            "Größe und Maße",
            "<p>Die Größe der Bäume in Zürich überrascht Besucher jedes Jahr aufs Neue, "
            "sagt die Försterin.</p>" + FILLER,
        )
        self._send(200, body, "text/html; charset=iso-8859-1")  # the body is UTF-8

    def broken(self, _: int) -> None:
        body = (
            b"<html><head><title>Broken markup</title><body><div><p>Unclosed <b>bold <i>and "
            b"italic <table><tr><td>a cell with the words that matter for this page"
            b"</div></span><p>More text that a forgiving parser keeps as content of the page"
            + FILLER.encode()
            + b"<a href='/depth/1'>depth</a><<<>>> </html></html>"
        )
        self._send(200, body)

    def empty(self, _: int) -> None:
        self._send(200, b"")

    def canonical_alias(self, _: int) -> None:
        head = '<link rel="canonical" href="/canonical-target">'
        self._send(200, page("Alias", f"<p>Alias of the target.</p>{FILLER}", head=head))

    def canonical_target(self, _: int) -> None:
        head = '<link rel="canonical" href="/canonical-target">'
        self._send(200, page("Target", f"<p>The canonical page.</p>{FILLER}", head=head))

    def depth(self, _: int) -> None:
        level = int(urlsplit(self.path).path.rsplit("/", 1)[-1])
        body = f"<p>Level {level} of a deep chain.</p>{FILLER}"
        self._send(200, page(f"Depth {level}", body, links=(f"/depth/{level + 1}",)))

    def duplicate(self, _: int) -> None:
        self._send(200, page("Same", f"<p>Exactly the same words under two URLs.</p>{FILLER}"))


Route = Callable[[_Handler, int], None]
ROUTES: dict[str, Route] = {
    "/": _Handler.index,
    "/robots.txt": _Handler.robots,
    "/sitemap.xml": _Handler.sitemap,
    "/from-sitemap.html": _Handler.plain,
    "/private/secret.html": _Handler.plain,
    "/excluded/page": _Handler.plain,
    "/page": _Handler.plain,
    "/redirect-loop/a": _Handler.loop,
    "/redirect-loop/b": _Handler.loop,
    "/redirect-private": _Handler.to_metadata,
    "/busy": _Handler.busy,
    "/flaky": _Handler.flaky,
    "/always-500": _Handler.always_500,
    "/endless": _Handler.endless,
    "/huge": _Handler.huge,
    "/bomb": _Handler.bomb,
    "/data.json": _Handler.data_json,
    "/latin1-lie": _Handler.latin1_lie,
    "/broken": _Handler.broken,
    "/empty": _Handler.empty,
    "/canonical-alias": _Handler.canonical_alias,
    "/canonical-target": _Handler.canonical_target,
    "/dup-a": _Handler.duplicate,
    "/dup-b": _Handler.duplicate,
    **{f"/depth/{n}": _Handler.depth for n in range(1, 8)},
}


@contextmanager
def serving_hostile(port: int = 0, host: str = "127.0.0.1") -> Iterator[HostileSite]:
    """Run the site in a background thread while the block runs."""
    server = ThreadingHTTPServer((host, port), _Handler)
    site = HostileSite(f"http://{host}:{server.server_address[1]}/")
    server.RequestHandlerClass = type("Handler", (_Handler,), {"site": site})
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    with serving_hostile(int(sys.argv[1]) if len(sys.argv) > 1 else 8701) as running:
        print(running.base, flush=True)
        threading.Event().wait()
