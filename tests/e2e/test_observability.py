"""Metrics and health of the services, scraped after a real crawl of the sample site."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from crawl_stack import Stack
from tests.sites.serve import SAMPLE, SAMPLE_URLS, serving

pytestmark = pytest.mark.e2e

SAMPLE_PAGES = SAMPLE_URLS


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (fails if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name:
            found = ",".join(sorted((match[2] or "").split(","))) if match[2] else ""
            if found == wanted:
                return float(match[3])
    raise AssertionError(f"no sample {name}{{{wanted}}} in:\n{text[:3000]}")


def crawl_sample(stack: Stack) -> dict[str, object]:
    with (
        serving(SAMPLE) as site,
        httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as client,
    ):
        location = client.post("/api/v1/crawls", json={"url": site, "max_depth": 3}).headers[
            "Location"
        ]
        for _ in range(600):
            job: dict[str, object] = client.get(location).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            time.sleep(0.1)
    raise AssertionError("the crawl did not finish")


def test_metrics_of_every_service_show_the_crawls_page_counts(stack: Stack) -> None:
    # Gauges read from the database cover the whole test session's jobs: compare differences.
    status_before = httpx.get(f"{stack.metrics_urls['status']}/metrics", timeout=5).text
    api_before = httpx.get(f"{stack.api_url}/metrics", timeout=5).text
    job = crawl_sample(stack)
    assert job["status"] == "completed"
    crawler = httpx.get(f"{stack.metrics_urls['crawler-0']}/metrics", timeout=5)
    assert crawler.status_code == 200
    assert crawler.headers["content-type"].startswith("text/plain")
    assert metric(crawler.text, "crawler_pages_total", outcome="fetched") == SAMPLE_PAGES
    assert metric(crawler.text, "crawler_pages_total", outcome="failed") == 0
    assert metric(crawler.text, "crawler_fetch_seconds_count") >= SAMPLE_PAGES
    assert metric(crawler.text, "crawler_extract_seconds_count") == SAMPLE_PAGES
    assert metric(crawler.text, "crawler_jobs_finished_total", status="completed") == 1
    assert metric(crawler.text, "crawler_jobs_running") == 0

    # The status service projects the terminal event after the pages: by now it saw them all.
    status = httpx.get(f"{stack.metrics_urls['status']}/metrics", timeout=5).text
    assert metric(status, "status_pages_projected_total", outcome="fetched") == SAMPLE_PAGES
    assert metric(status, "status_events_projected_total", type="PageRecorded") == SAMPLE_PAGES
    assert metric(status, "status_events_projected_total", type="CrawlCompleted") == 1
    assert metric(status, "status_projection_lag_seconds_count") > SAMPLE_PAGES
    assert metric(status, "crawl_jobs", status="running") == metric(
        status_before, "crawl_jobs", status="running"
    )
    assert metric(status, "crawl_dead_letters", queue="status.messages.dead") == 0
    assert metric(status, "crawl_dead_letters", queue="crawler.extract.dead") == 0
    assert metric(status, "status_webhook_deliveries_total", result="delivered") == 0

    api = httpx.get(f"{stack.api_url}/metrics", timeout=5).text
    # Unfinished jobs only: the finished ones are the status service's counters above.
    assert "crawl_pages" not in api
    assert 'crawl_jobs{status="completed"}' not in api
    assert metric(api, "crawl_jobs", status="running") == metric(
        api_before, "crawl_jobs", status="running"
    )
    assert (
        metric(api, "api_requests_total", method="POST", route="/api/v1/crawls", status="202") == 1
    )


def test_health_of_crawler_and_status_checks_their_dependencies(stack: Stack) -> None:
    for name, base in stack.metrics_urls.items():
        live = httpx.get(f"{base}/health/live", timeout=5)
        assert live.status_code == 200, name
        ready = httpx.get(f"{base}/health/ready", timeout=5)
        assert ready.status_code == 200, name
        assert ready.json() == {"status": "ok", "failing": []}
        assert httpx.get(f"{base}/nope", timeout=5).status_code == 404
