"""A crawl of a site that cannot be reached, end to end: the job ends ``failed`` with
``start_unreachable`` and the cause, and its start URL's record names the connection error
(``robots_unavailable``: the site forbade nothing, its robots.txt could not be asked)."""

from __future__ import annotations

import socket

import httpx
import pytest

from crawl_stack import Stack, wait_finished

pytestmark = pytest.mark.e2e


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released: connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_crawl_of_a_closed_port_fails_with_start_unreachable_and_its_cause(
    stack: Stack,
) -> None:
    start = f"http://127.0.0.1:{closed_port()}/"
    with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as client:
        created = client.post("/api/v1/crawls", json={"url": start, "max_pages": 10})
        assert created.status_code == 202
        location = created.headers["Location"]

        job = wait_finished(client, location)
        assert job["status"] == "failed"
        assert job["error"]["code"] == "start_unreachable"
        assert start in job["error"]["message"]
        assert "refused" in job["error"]["message"].lower()
        assert job["counters"]["fetched"] == 0

        pages = client.get(f"{location}/pages").json()["items"]
        assert [p["url"] for p in pages] == [start]
        (record,) = pages
        assert record["outcome"] == "skipped"
        assert record["reason"] == "robots_unavailable"
        assert record["error"].startswith("connect_error")
        assert "refused" in record["error"].lower()

        logs = client.get(f"{location}/logs").json()["items"]
        assert any("start_unreachable" in line["message"] for line in logs)
