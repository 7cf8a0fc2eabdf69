"""Serve a folder over HTTP on loopback from a background thread.

``python -m tests.sites.serve DIR PORT`` serves until interrupted; tests use ``serving()``.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SAMPLE = Path(__file__).parent / "sample"
SAMPLE_URLS = 38
"""URLs of the sample site: 37 pages and a PDF (``make_sample.py``)."""


def sample_urls(base: str) -> set[str]:
    """Every URL of the sample site served at ``base`` (a folder's ``index.html`` is served as
    the folder's URL)."""
    return {
        base + path.relative_to(SAMPLE).as_posix().removesuffix("index.html")
        for path in SAMPLE.rglob("*")
        if path.suffix in (".html", ".pdf")
    }


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(directory: Path = SAMPLE, port: int = 0, host: str = "127.0.0.1") -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT/``) while the folder is served."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8700
    with serving(directory, port) as url:
        print(url, flush=True)
        threading.Event().wait()
