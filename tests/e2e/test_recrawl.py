"""A re-crawl end to end: the sample site is crawled, two pages are changed, one deleted and
one added, and a crawl ``since`` the first reports exactly that; the site's own request log
shows the unchanged pages answered ``304 Not Modified`` to conditional requests."""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from crawl_stack import Stack, wait_finished
from tests.sites.serve import SAMPLE, SAMPLE_URLS

pytestmark = pytest.mark.e2e


class _LoggingHandler(SimpleHTTPRequestHandler):
    """Python's file server (Last-Modified, and 304 to If-Modified-Since), keeping a log."""

    requests: list[tuple[str, int]]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.requests.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path, list[tuple[str, int]]]]:
    root = tmp_path / "site"
    shutil.copytree(SAMPLE, root)  # copy2: the files keep their times (Last-Modified)
    log: list[tuple[str, int]] = []
    handler = type("Handler", (_LoggingHandler,), {"requests": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root, log
    finally:
        server.shutdown()
        server.server_close()


def rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    later = path.stat().st_mtime + 3600  # a Last-Modified the earlier answer cannot match
    os.utime(path, (later, later))


def all_changes(client: httpx.Client, location: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        answer = client.get(f"{location}/changes", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the change list did not end")


def test_a_recrawl_reports_exactly_what_changed_and_asks_conditionally(
    stack: Stack, site: tuple[str, Path, list[tuple[str, int]]]
) -> None:
    base, root, log = site
    request = {"url": base, "max_pages": 200, "max_depth": 5}
    with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as client:
        first = client.post("/api/v1/crawls", json=request)
        assert first.status_code == 202
        first_job = wait_finished(client, first.headers["Location"], timeout=90)
        assert first_job["status"] == "completed"
        assert first_job["counters"]["fetched"] == SAMPLE_URLS

        rewrite(
            root / "broadleaves" / "english-oak.html",
            "<h1>English oak</h1>",
            "<h1>English oak</h1><p>The guide now also covers "
            "<a href='/broadleaves/sessile-oak.html'>the sessile oak</a>, its close cousin.</p>",
        )
        rewrite(root / "conifers" / "yew.html", "Birds nest", "Thrushes and birds nest")
        (root / "fruit-trees" / "rowan.html").unlink()
        shutil.copy(root / "broadleaves" / "ash.html", root / "broadleaves" / "sessile-oak.html")
        rewrite(root / "broadleaves" / "sessile-oak.html", "<h1>Ash</h1>", "<h1>Sessile oak</h1>")
        log.clear()

        second = client.post("/api/v1/crawls", json={**request, "since": first_job["id"]})
        assert second.status_code == 202, second.text
        location = second.headers["Location"]
        job = wait_finished(client, location, timeout=90)
        assert job["status"] == "completed"
        counters = job["counters"]
        assert (counters["added"], counters["changed"], counters["removed"]) == (1, 2, 1)
        assert counters["unchanged"] == SAMPLE_URLS - 3  # the PDF too

        changes = all_changes(client, location)
        by_url = {c["url"].removeprefix(base): c["change"] for c in changes}
        assert len(by_url) == len(changes) == SAMPLE_URLS + 1  # every URL of either run, once
        assert {u: c for u, c in by_url.items() if c != "unchanged"} == {
            "broadleaves/english-oak.html": "changed",
            "conifers/yew.html": "changed",
            "fruit-trees/rowan.html": "removed",
            "broadleaves/sessile-oak.html": "added",
        }
        only_removed = client.get(f"{location}/changes", params={"kind": "removed"}).json()
        assert [c["change"] for c in only_removed["items"]] == ["removed"]

        # The site answered 304 to every unchanged page, 200 to the changed and new ones.
        answered = {path.lstrip("/"): status for path, status in log}
        unchanged = {u for u, c in by_url.items() if c == "unchanged"}
        assert {answered.get(u) for u in unchanged} == {304}
        assert answered["broadleaves/english-oak.html"] == 200
        assert answered["broadleaves/sessile-oak.html"] == 200
        assert answered["fruit-trees/rowan.html"] == 404

        pages = client.get(f"{location}/pages", params={"limit": 1000}).json()["items"]
        oak = next(p for p in pages if p["url"] == base + "broadleaves/european-beech.html")
        assert oak["outcome"] == "unchanged"
        assert "beech" in (oak["markdown"] or "").lower()  # the earlier text, carried over

        # A since that names no finished job of this tenant and start URL is refused at once.
        other = client.post("/api/v1/crawls", json={"url": base + "care/", "since": job["id"]})
        assert other.status_code == 422
        assert other.headers["content-type"].startswith("application/problem+json")
        assert "since" in other.text
