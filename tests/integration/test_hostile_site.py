"""The crawler against a hostile site: the real services as processes, the real broker and
database, and a loopback site with one route per way a site can hurt a crawler.

Limits are small through settings (2 MB cap, 3 s read timeout, 4 s total) so the suite takes
seconds; the site still serves a real 50 MB page, a 1 GiB gzip bomb and an endless response.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from crawl_stack import Services, Stack, running_stack
from tests.sites.hostile import EXPECTED, ROBOTS_CRAWL_DELAY, HostileSite, serving_hostile

pytestmark = pytest.mark.e2e

TIME_LIMIT = 45.0  # seconds a hostile crawl may take, start to terminal status
SMALL_LIMITS = {
    "CRAWL_WORKER_MAX_RESPONSE_BYTES": str(2 * 1024 * 1024),
    "CRAWL_WORKER_CONNECT_TIMEOUT": "3",
    "CRAWL_WORKER_READ_TIMEOUT": "3",
    "CRAWL_WORKER_TOTAL_TIMEOUT": "4",
    "CRAWL_WORKER_RETRIES": "2",
    "CRAWL_WORKER_RETRY_BACKOFF": "0.05",
    "CRAWL_WORKER_MAX_RETRY_AFTER": "5",
}


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(services, extra_env=SMALL_LIMITS) as running:
        yield running


@pytest.fixture(scope="module")
def site() -> Iterator[HostileSite]:
    with serving_hostile() as running:
        yield running


def crawl(stack: Stack, request: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Submit a crawl, wait for its terminal status, return the job and its pages."""
    with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as client:
        created = client.post("/api/v1/crawls", json=request)
        assert created.status_code == 202, created.text
        location = created.headers["Location"]
        deadline = time.monotonic() + TIME_LIMIT
        while time.monotonic() < deadline:
            job: dict[str, Any] = client.get(location).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the crawl did not finish within {TIME_LIMIT} s")
        pages: list[dict[str, Any]] = client.get(
            f"{location}/pages", params={"limit": 1000}
        ).json()["items"]
        return job, pages


@pytest.fixture(scope="module")
def hostile_crawl(
    stack: Stack, site: HostileSite
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    job, pages = crawl(
        stack,
        {"url": site.base, "max_pages": 100, "max_depth": 3, "exclude": ["/excluded/"]},
    )
    return job, {p["url"].removeprefix(site.base.rstrip("/")): p for p in pages}


def test_every_hostile_url_ends_with_its_exact_outcome_and_reason(
    hostile_crawl: tuple[dict[str, Any], dict[str, dict[str, Any]]], site: HostileSite
) -> None:
    job, pages = hostile_crawl
    assert job["status"] == "completed"
    assert job["stop_reason"] == "exhausted"
    out_of_site = site.base.replace("127.0.0.1", "localhost")
    assert set(pages) == set(EXPECTED)
    recorded = {url: (p["outcome"], p["reason"]) for url, p in pages.items()}
    pair = sorted([recorded.pop("/dup-a"), recorded.pop("/dup-b")])
    assert pair == [("fetched", None), ("skipped", "duplicate")]
    assert recorded == {u: r for u, r in EXPECTED.items() if not u.startswith("/dup-")}
    assert not any(u.startswith(out_of_site) for u in pages)
    c = job["counters"]
    assert c["discovered"] == len(EXPECTED)
    assert c["queued"] == c["in_flight"] == 0
    assert c["discovered"] == c["fetched"] + c["failed"] + c["skipped"]
    started = datetime.fromisoformat(job["started_at"])
    finished = datetime.fromisoformat(job["finished_at"])
    assert (finished - started).total_seconds() < TIME_LIMIT


def test_retries_are_bounded_and_counted(
    hostile_crawl: tuple[dict[str, Any], dict[str, dict[str, Any]]], site: HostileSite
) -> None:
    _, pages = hostile_crawl
    assert (pages["/flaky"]["attempts"], pages["/flaky"]["http_status"]) == (2, 200)
    assert (pages["/busy"]["attempts"], pages["/busy"]["http_status"]) == (2, 200)
    assert (pages["/always-500"]["attempts"], pages["/always-500"]["http_status"]) == (3, 500)
    assert site.hits["/always-500"] == 3
    assert site.hits["/endless"] == 1  # a timeout is not retried


def test_retry_after_and_crawl_delay_are_honoured(
    hostile_crawl: tuple[dict[str, Any], dict[str, dict[str, Any]]], site: HostileSite
) -> None:
    first, second = site.starts("/busy")
    assert second - first >= 0.95  # Retry-After: 1
    gated = [t for p, t in site.requests if p not in ("/robots.txt", "/sitemap.xml")]
    # The site's clock, not the crawler's: one gap may shrink when a server thread starts
    # late, so the whole span is checked, and the typical gap.
    assert gated[-1] - gated[0] >= (len(gated) - 1) * ROBOTS_CRAWL_DELAY - 0.1
    gaps = sorted(b - a for a, b in itertools.pairwise(gated))
    assert gaps[len(gaps) // 2] >= ROBOTS_CRAWL_DELAY * 0.9


def test_redirects_and_unsafe_addresses_are_contained(
    hostile_crawl: tuple[dict[str, Any], dict[str, dict[str, Any]]], site: HostileSite
) -> None:
    _, pages = hostile_crawl
    assert pages["/redirect-loop/a"]["http_status"] == 302
    assert site.hits["/redirect-loop/a"] == 1  # the loop is seen, not walked twice
    assert pages["/redirect-private"]["final_url"] == "http://169.254.169.254/latest/meta-data/"
    assert site.hits["/private/secret.html"] == 0  # robots.txt is respected before any fetch


def test_text_is_decoded_right_whatever_the_page_claims(
    hostile_crawl: tuple[dict[str, Any], dict[str, dict[str, Any]]],
) -> None:
    _, pages = hostile_crawl
    lying = pages["/latin1-lie"]
    assert lying["title"] == "Größe und Maße"
    assert "Die Größe der Bäume in Zürich" in lying["markdown"]
    assert pages["/broken"]["title"] == "Broken markup"
    assert "Unclosed" in pages["/broken"]["markdown"]
    assert pages["/canonical-alias"]["final_url"].endswith("/canonical-target")


def test_robots_bypass_fetches_a_disallowed_page(stack: Stack, site: HostileSite) -> None:
    job, pages = crawl(
        stack,
        {
            "url": site.base + "private/secret.html",
            "max_depth": 0,
            "sitemap": "skip",
            "bypass_robots_domains": ["127.0.0.1"],
        },
    )
    assert job["status"] == "completed"
    assert [(p["url"], p["outcome"]) for p in pages] == [
        (site.base + "private/secret.html", "fetched")
    ]


def test_an_invalid_url_pattern_is_refused_at_submit(stack: Stack, site: HostileSite) -> None:
    with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as client:
        response = client.post("/api/v1/crawls", json={"url": site.base, "include": ["(oops"]})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "invalid regular expression" in response.text
