"""The crawler's metrics and probe server, on a real socket, with fake ports."""

from __future__ import annotations

import httpx

from crawl_contracts import CrawlRequest, CrawlRequested, Outcome, PageRecorded
from crawl_worker.observability import REGISTRY, CountingSink, ObservabilityServer, timed_fetcher


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


async def test_probe_server_answers_metrics_live_and_ready_with_the_failing_check() -> None:
    healthy = True

    async def broker() -> bool:
        return healthy

    async def database() -> bool:
        raise ConnectionError("down")

    server = ObservabilityServer("127.0.0.1", 0, {"broker": broker})
    await server.start()
    failing = ObservabilityServer("127.0.0.1", 0, {"broker": broker, "database": database})
    await failing.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert "crawler_pages_total" in metrics.text
            assert (await client.get("/health/live")).json() == {"status": "ok"}
            assert (await client.get("/health/ready")).status_code == 200
            healthy = False
            down = await client.get("/health/ready")
            assert down.status_code == 503
            assert down.json()["failing"] == ["broker"]
            assert (await client.post("/metrics")).status_code == 405
        healthy = True
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{failing.port}") as client:
            down = await client.get("/health/ready")
            assert down.status_code == 503
            assert down.json()["failing"] == ["database"]
    finally:
        await server.stop()
        await failing.stop()


async def test_a_port_in_use_leaves_the_service_running_without_probes() -> None:
    first = ObservabilityServer("127.0.0.1", 0, {})
    await first.start()
    try:
        second = ObservabilityServer("127.0.0.1", first.port, {})
        await second.start()  # logs a warning instead of raising
        await second.stop()
    finally:
        await first.stop()
