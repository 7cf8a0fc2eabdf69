"""One crawl end to end: REST in, real RabbitMQ and MongoDB-protocol server in between,
three real service processes, a local site crawled, results read back over REST."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from crawl_stack import Stack, wait_finished
from tests.sites.serve import SAMPLE, SAMPLE_URLS, sample_urls, serving

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sample_site() -> Iterator[str]:
    with serving(SAMPLE) as url:
        yield url


def test_a_crawl_submitted_over_rest_completes_with_every_page_and_its_text(
    stack: Stack, sample_site: str
) -> None:
    with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as client:
        created = client.post(
            "/api/v1/crawls", json={"url": sample_site, "max_pages": 100, "max_depth": 3}
        )
        assert created.status_code == 202
        body = created.json()
        assert body["status"] == "pending"
        location = created.headers["Location"]
        assert location == f"/api/v1/crawls/{body['id']}"
        assert int(created.headers["Retry-After"]) >= 1

        immediately = client.get(location)
        assert immediately.status_code == 200
        assert immediately.json()["status"] in ("pending", "running", "completed")

        job = wait_finished(client, location)
        assert job["status"] == "completed"
        assert job["stop_reason"] == "exhausted"
        counters = job["counters"]
        assert isinstance(counters, dict)
        assert counters["fetched"] == len(sample_urls(sample_site)) == SAMPLE_URLS
        assert counters["discovered"] == counters["fetched"]
        assert job["started_at"]
        assert job["finished_at"]

        pages = client.get(f"{location}/pages", params={"limit": 1000}).json()
        assert pages["next_cursor"] is None
        urls = {p["url"] for p in pages["items"]}
        assert urls == sample_urls(sample_site)
        oak = next(p for p in pages["items"] if p["url"].endswith("/broadleaves/english-oak.html"))
        assert oak["outcome"] == "fetched"
        assert oak["http_status"] == 200
        assert oak["depth"] == 2
        assert oak["title"] == "English oak - Field Guide to Trees"
        assert "The english oak is entry 1 of the broadleaves section" in oak["markdown"]
        # The care section links a PDF: its text becomes markdown, with title and page count.
        calendar = next(p for p in pages["items"] if p["url"].endswith(".pdf"))
        assert calendar["outcome"] == "fetched", calendar
        assert calendar["title"] == "Planting calendar"
        assert calendar["page_count"] == 2
        assert "Plant bare-root trees between November and March" in calendar["markdown"]
        assert "mulch them each spring" in calendar["markdown"]


def test_pages_are_paginated_by_cursor(stack: Stack, sample_site: str) -> None:
    with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as client:
        location = client.post(
            "/api/v1/crawls", json={"url": sample_site + "conifers/", "max_depth": 1}
        ).headers["Location"]
        wait_finished(client, location)
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 4}
            if cursor:
                params["cursor"] = cursor
            page = client.get(f"{location}/pages", params=params).json()
            seen += [p["url"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) > 4


def test_unknown_jobs_bad_input_and_missing_tokens_are_problems(stack: Stack) -> None:
    with httpx.Client(base_url=stack.api_url, timeout=10) as anonymous:
        response = anonymous.get("/api/v1/crawls/whatever")
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
    with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as client:
        missing = client.get("/api/v1/crawls/does-not-exist")
        assert missing.status_code == 404
        assert missing.json()["type"].endswith("/not-found")
        bad = client.post("/api/v1/crawls", json={"url": "ftp://x", "max_pages": 0})
        assert bad.status_code == 422
        assert {e["key"] for e in bad.json()["errors"]} == {"url", "max_pages"}
        garbage = client.post(
            "/api/v1/crawls", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert 400 <= garbage.status_code < 500
        assert garbage.headers["content-type"].startswith("application/problem+json")
