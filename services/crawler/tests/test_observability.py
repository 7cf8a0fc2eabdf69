"""The crawler's metrics, observed through fake ports."""

from __future__ import annotations

import httpx

from crawl_contracts import CrawlRequest, CrawlRequested, Outcome, PageRecorded
from crawl_worker.observability import REGISTRY, CountingSink, server_for, timed_fetcher
from crawl_worker.settings import WorkerSettings


class _Sink:
    def __init__(self) -> None:
        self.events: list[object] = []

    async def emit(self, event: object) -> None:
        self.events.append(event)


class _Fetcher:
    async def fetch(self, url: str) -> str:
        return url

    async def fetch_text(self, url: str) -> str:
        return "robots"


def _sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_counting_sink_counts_published_page_outcomes() -> None:
    before = _sample("crawler_pages_total", outcome="skipped")
    inner = _Sink()
    sink = CountingSink(inner)
    command = CrawlRequested(job_id="j", tenant="t", request=CrawlRequest(url="http://e.com/"))
    page = PageRecorded(
        job_id="j", tenant="t", url="http://e.com/x", outcome=Outcome.SKIPPED, depth=1
    )
    await sink.emit(page)
    await sink.emit(command)
    assert inner.events == [page, command]
    assert _sample("crawler_pages_total", outcome="skipped") == before + 1
    assert _sample("crawler_events_emitted_total", type="CrawlRequested") >= 1


async def test_timed_fetcher_times_fetches_and_passes_other_calls_through() -> None:
    before = _sample("crawler_fetch_seconds_count")
    fetcher = timed_fetcher(_Fetcher())
    assert await fetcher.fetch("http://e.com/") == "http://e.com/"
    assert await fetcher.fetch_text("http://e.com/robots.txt") == "robots"
    assert _sample("crawler_fetch_seconds_count") == before + 1


async def test_the_crawlers_probe_server_shows_its_metrics_and_readiness_of_its_broker() -> None:
    broker_up = True

    async def broker_ping() -> bool:
        return broker_up

    running = {"a": object(), "b": object()}
    server = server_for(WorkerSettings(metrics_port=0), running, broker_ping)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            metrics = (await client.get("/metrics")).text
            assert "crawler_pages_total" in metrics
            assert "crawler_jobs_running 2.0" in metrics
            assert (await client.get("/health/ready")).status_code == 200
            broker_up = False
            down = await client.get("/health/ready")
            assert down.status_code == 503
            assert down.json()["failing"] == ["broker"]
    finally:
        await server.stop()
