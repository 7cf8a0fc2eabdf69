"""One crawl on two crawler processes: the crawler that owns the job keeps its frontier,
politeness and ledger, both crawlers extract its pages through the ``crawler.extract`` queue,
and the job records exactly the ledger it records with sharing off.

The sample site's pages are about 1.2 KB, under the default inline threshold (4 KiB), so each
crawler would extract them in its own event loop; ``CRAWL_WORKER_INLINE_EXTRACT_BYTES=0``
sends every page through the pool, and so through the queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crawl_contracts import routing
from crawl_stack import Services, Stack, running_stack, wait_finished
from crawl_stack.inspect import extractions as crawler_extractions
from crawl_stack.inspect import queue_info
from tests.sites.serve import SAMPLE, SAMPLE_URLS, serving

pytestmark = pytest.mark.e2e

ENV = {
    "CRAWL_WORKER_INLINE_EXTRACT_BYTES": "0",
    "CRAWL_WORKER_EXTRACT_CHECK_INTERVAL": "0.5",
}
CRAWLERS = ("crawler-0", "crawler-1")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serving(SAMPLE) as url:
        yield url


def extractions(stack: Stack, name: str) -> dict[str, float]:
    """``crawler_extractions_total`` of one crawler process, by ``where``."""
    return crawler_extractions(stack.metrics_urls[name])


def extract_consumers(services: Services) -> int:
    """Consumers of ``crawler.extract``, as the broker's management API counts them."""
    info = queue_info(services, routing.EXTRACT_REQUESTS_QUEUE)
    return int(info.get("consumers", 0)) if info else 0


def wait_consumers(services: Services, wanted: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while extract_consumers(services) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"crawler.extract did not get {wanted} consumers")
        time.sleep(0.2)


def crawl(stack: Stack, site: str) -> tuple[dict[str, Any], dict[str, tuple[Any, ...]]]:
    """The finished job and its ledger: URL -> what its record says."""
    with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=30) as client:
        created = client.post("/api/v1/crawls", json={"url": site, "max_depth": 3})
        location = created.headers["Location"]
        job = wait_finished(client, location, timeout=120)
        pages = client.get(f"{location}/pages", params={"limit": 1000}).json()
    assert pages["next_cursor"] is None
    ledger = {
        p["url"]: (
            p["outcome"],
            p.get("reason"),
            p.get("http_status"),
            p.get("title"),
            p.get("language"),
            p.get("content_hash"),
            p.get("page_count"),
        )
        for p in pages["items"]
    }
    return job, ledger


def test_two_crawlers_extract_one_crawls_pages_and_record_the_ledger_of_one(
    services: Services, site: str
) -> None:
    off = {**ENV, "CRAWL_WORKER_SHARE_EXTRACTION": "false"}
    with running_stack(services, workers=2, renderers=0, extra_env=off) as stack:
        reference_job, reference = crawl(stack, site)
        alone = {name: extractions(stack, name) for name in CRAWLERS}
    assert reference_job["status"] == "completed"
    assert len(reference) == SAMPLE_URLS
    # Sharing off: the owner extracted every page itself, nobody served anything.
    assert sum(m["local"] for m in alone.values()) == SAMPLE_URLS
    assert sum(m["remote"] + m["served"] for m in alone.values()) == 0

    with running_stack(services, workers=2, renderers=0, extra_env=ENV) as stack:
        wait_consumers(services, 2)
        job, shared = crawl(stack, site)
        metrics = {name: extractions(stack, name) for name in CRAWLERS}

    assert job["status"] == "completed"
    assert job["stop_reason"] == "exhausted"
    assert job["counters"]["fetched"] == SAMPLE_URLS
    assert shared == reference
    # Every page went through the queue and was answered; both processes extracted pages.
    assert sum(m["remote"] for m in metrics.values()) == SAMPLE_URLS
    assert sum(m["served"] for m in metrics.values()) == SAMPLE_URLS
    assert sum(m["local"] for m in metrics.values()) == 0
    assert all(m["served"] > 0 for m in metrics.values()), metrics
