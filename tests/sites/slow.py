"""A large generated site whose every page takes a while: crawls of it last long enough to
be watched and cancelled. Page ``n`` links to pages ``2n+1`` and ``2n+2`` (breadth-first
order), up to ``pages`` pages."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PAGE = re.compile(r"/p/(\d+)\.html")


def _html(n: int, pages: int) -> bytes:
    links = "".join(
        f'<li><a href="/p/{k}.html">Page {k}</a></li>' for k in (2 * n + 1, 2 * n + 2) if k < pages
    )
    body = " ".join(
        f"Page {n} of the slow site describes item number {n} in sentence {i}." for i in range(12)
    )
    return (
        f"<!doctype html><html><head><title>Slow page {n}</title></head><body>"
        f"<main><h1>Slow page {n}</h1><p>{body}</p><ul>{links}</ul></main></body></html>"
    ).encode()


@contextmanager
def slow_site(pages: int = 2000, delay: float = 0.2) -> Iterator[str]:
    """Yield the site's base URL (``/`` is page 0) while it is served from a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            match = _PAGE.fullmatch(self.path)
            n = 0 if self.path == "/" else int(match[1]) if match else -1
            if not 0 <= n < pages:
                self.send_error(404)
                return
            time.sleep(delay)
            body = _html(n, pages)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
