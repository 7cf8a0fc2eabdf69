"""The sites the scale benchmark crawls, and nginx to serve them.

``generate(directory, pages)``: a static site of ``pages`` HTML pages, cached (a marker file
names the generator's version and the page count; anything else is regenerated). Page ``i``
(``/`` for 0, ``/d<i // 1000>/p<i>.html`` otherwise) has its number in its title and text,
text of its own (so no two pages share a content hash), exactly 10 links into the site and 5
to distinct off-site URLs (``http://ext<j>.example/p<i>-<j>``). The in-site links form a tree:
page ``i`` links to ``10i+1 .. 10i+10``; a page whose children would lie past the end links to
10 other existing pages instead, so every page is reachable within ``depth(pages)`` and every
page keeps 10 in-site links.

``nginx(directory)``: Debian's nginx serving ``directory`` on a free loopback port, run as the
current user with its configuration, pid file and logs under ``.local/bench-nginx``.
"""

from __future__ import annotations

import getpass
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from crawl_stack import free_port

__all__ = [
    "GENERATOR_VERSION",
    "IN_SITE_LINKS",
    "OFF_SITE_LINKS",
    "depth",
    "generate",
    "nginx",
    "page_path",
    "small_site",
]

GENERATOR_VERSION = 1
IN_SITE_LINKS = 10
OFF_SITE_LINKS = 5
_MARKER = ".bench-site.json"
ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"

# A vocabulary of made-up words: every page draws its own sentences from it.
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "dor", "fen")
_WORDS = sorted(
    {a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in ("", "n", "s", "ta", "rel")}
)


def page_path(i: int) -> str:
    """The URL path of page ``i``."""
    return "/" if i == 0 else f"/d{i // 1000}/p{i}.html"


def children(i: int, pages: int) -> list[int]:
    """The 10 pages page ``i`` links to (see the module doc)."""
    if pages <= IN_SITE_LINKS:
        raise ValueError(f"a site needs more than {IN_SITE_LINKS} pages")
    first = IN_SITE_LINKS * i + 1
    found = [c for c in range(first, first + IN_SITE_LINKS) if c < pages]
    if len(found) == IN_SITE_LINKS:
        return found
    # Past the end of the tree: the children there are, then pages spread over the site.
    step = max(1, pages // (IN_SITE_LINKS + 1))
    spread = ((i + k * step + k * k) % pages for k in range(1, 4 * IN_SITE_LINKS))
    after = ((i + k) % pages for k in range(1, pages))  # a small site runs out of spread
    for candidate in itertools.chain(spread, after):
        if candidate != i and candidate not in found:
            found.append(candidate)
            if len(found) == IN_SITE_LINKS:
                break
    return found


def depth(pages: int) -> int:
    """The depth of the deepest page of the tree (the start page is at depth 0)."""
    d, last = 0, 0
    while last < pages - 1:
        last = IN_SITE_LINKS * last + IN_SITE_LINKS
        d += 1
    return d


def _sentence(rng: random.Random, i: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(9, 16))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), f"n{i}")
    return " ".join(words).capitalize() + "."


def page_html(i: int, pages: int) -> str:
    """Page ``i`` of a site of ``pages`` pages (about 5.5 KB)."""
    rng = random.Random(i * 7919 + 17)
    paragraphs = [" ".join(_sentence(rng, i) for _ in range(rng.randint(4, 6))) for _ in range(9)]
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    inside = "\n".join(
        f'<li><a href="{page_path(c)}">Page {c}</a></li>' for c in children(i, pages)
    )
    outside = "\n".join(
        f'<li><a href="http://ext{j}.example/p{i}-{j}">Elsewhere {j}</a></li>'
        for j in range(OFF_SITE_LINKS)
    )
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>Page {i}</title>'
        f'<meta name="description" content="Page {i} of the scale benchmark site."></head>\n'
        f"<body><header><h1>Page {i}</h1></header>\n"
        f"<main><article><h2>Notes on page {i}</h2>\n{body}\n</article></main>\n"
        f"<nav><ul>\n{inside}\n</ul></nav>\n"
        f"<aside><ul>\n{outside}\n</ul></aside>\n"
        "<footer>Generated for the scale benchmark.</footer></body></html>\n"
    )


def generate(directory: Path, pages: int) -> bool:
    """Make the site unless ``directory`` holds this version's site of ``pages`` pages;
    whether it was (re)generated."""
    marker = directory / _MARKER
    wanted = {"version": GENERATOR_VERSION, "pages": pages}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return False
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for i in range(pages):
        path = directory / ("index.html" if i == 0 else page_path(i).lstrip("/"))
        if i % 1000 == 0 or i == 1:
            path.parent.mkdir(exist_ok=True)
        path.write_text(page_html(i, pages))
        if i and i % 20_000 == 0:
            print(f"  site: {i:,}/{pages:,} pages written", flush=True)
    marker.write_text(json.dumps(wanted))
    return True


def small_site(directory: Path, pages: int = 12) -> None:
    """A small site of ``pages`` pages (the read benchmark's crawl): the same generator."""
    generate(directory, pages)


@contextmanager
def nginx(directory: Path) -> Iterator[str]:
    """nginx serving ``directory`` on a free loopback port; yields the base URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is missing: apt-get install -y nginx")
    home = LOCAL / "bench-nginx"
    home.mkdir(parents=True, exist_ok=True)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (home / sub).mkdir(exist_ok=True)
    port = free_port()
    config = home / "nginx.conf"
    # Started by root, nginx would hand its workers to "nobody": keep them the current user.
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    config.write_text(
        f"""daemon off;
{user}worker_processes 1;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ text/html html; application/javascript js; application/json json; }}
    default_type text/html;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {home}/client_body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;
    open_file_cache max=10000 inactive=60s;
    server {{
        listen 127.0.0.1:{port};
        root {directory};
        index index.html;
    }}
}}
"""
    )
    server = subprocess.Popen(
        [binary, "-c", str(config), "-p", str(home), "-e", str(home / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            if server.poll() is not None:
                raise RuntimeError(f"nginx exited with {server.returncode}; see {home}")
            try:
                if httpx.get(base, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"nginx did not answer on {base}")
        yield base
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGQUIT)  # graceful: workers finish and exit
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
