"""The probe and metrics server, on a real socket, with fake readiness checks."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry, Counter
from structlog.testing import capture_logs

from crawl_runtime.probes import ObservabilityServer


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("probe_test_things", "Things counted by the test.", registry=registry).inc()
    return registry


async def test_probe_server_answers_metrics_live_and_ready_with_the_failing_check() -> None:
    healthy = True

    async def broker() -> bool:
        return healthy

    async def database() -> bool:
        raise ConnectionError("down")

    registry = _registry()
    server = ObservabilityServer("127.0.0.1", 0, {"broker": broker}, registry=registry)
    await server.start()
    failing = ObservabilityServer(
        "127.0.0.1", 0, {"broker": broker, "database": database}, registry=registry
    )
    await failing.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain")
            assert "probe_test_things_total 1.0" in metrics.text
            assert (await client.get("/health/live")).json() == {"status": "ok"}
            ready = await client.get("/health/ready")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ok", "failing": []}
            healthy = False
            down = await client.get("/health/ready")
            assert down.status_code == 503
            assert down.json() == {"status": "unavailable", "failing": ["broker"]}
            assert (await client.post("/metrics")).status_code == 405
            assert (await client.get("/nowhere")).status_code == 404
        healthy = True
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{failing.port}") as client:
            down = await client.get("/health/ready")
            assert down.status_code == 503
            assert down.json()["failing"] == ["database"]
    finally:
        await server.stop()
        await failing.stop()


async def test_a_check_that_hangs_counts_as_failing() -> None:
    async def hangs() -> bool:
        await asyncio.sleep(3600)
        return True

    server = ObservabilityServer("127.0.0.1", 0, {"slow": hangs}, registry=_registry())
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            down = await client.get("/health/ready", timeout=10)
        assert down.status_code == 503
        assert down.json()["failing"] == ["slow"]
    finally:
        await server.stop()


async def test_a_scrape_refreshes_first_and_still_answers_when_the_refresh_fails() -> None:
    registry = _registry()
    refreshes: list[str] = []

    async def refresh() -> None:
        refreshes.append("scrape")
        if len(refreshes) > 1:
            raise ConnectionError("database down")

    server = ObservabilityServer("127.0.0.1", 0, {}, registry=registry, before_scrape=refresh)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert (await client.get("/metrics")).status_code == 200
            with capture_logs() as logs:
                second = await client.get("/metrics")
        assert second.status_code == 200
        assert "probe_test_things_total 1.0" in second.text
        assert refreshes == ["scrape", "scrape"]
        assert [entry["event"] for entry in logs] == ["metrics.refresh_failed"]
    finally:
        await server.stop()


async def test_a_port_in_use_leaves_the_service_running_without_probes() -> None:
    first = ObservabilityServer("127.0.0.1", 0, {}, registry=_registry())
    await first.start()
    try:
        second = ObservabilityServer("127.0.0.1", first.port, {}, registry=_registry())
        with capture_logs() as logs:
            await second.start()  # logs a warning instead of raising
        assert not second.listening
        assert [(e["event"], e["log_level"], e["port"]) for e in logs] == [
            ("observability.unavailable", "warning", first.port)
        ]
        await second.stop()  # a no-op, not an error
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first.port}") as client:
            assert (await client.get("/health/live")).status_code == 200  # the first still serves
    finally:
        await first.stop()
    assert not first.listening


async def test_no_port_switches_the_server_off() -> None:
    server = ObservabilityServer("127.0.0.1", None, {}, registry=_registry())
    await server.start()
    assert not server.listening
    await server.stop()
