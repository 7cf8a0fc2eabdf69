"""Metrics and health of the crawler: Prometheus counters and a tiny HTTP server.

The server answers ``GET /metrics`` (Prometheus text format), ``GET /health/live`` (the
process answers) and ``GET /health/ready`` (every readiness check passes: 200, else 503 with
the failing check named). It runs on the crawler's event loop, so a check may await the
broker; it serves a handful of scrapes and probes, nothing else.

Instrumentation wraps the crawl's ports instead of editing the engine: ``timed_fetcher``,
``timed_extractor`` and ``CountingSink`` observe what passes through them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sized
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from crawl_contracts import (
    CrawlCancelled,
    CrawlCompleted,
    CrawlFailed,
    PageRecorded,
    UrlsSkipped,
)
from crawl_worker.settings import WorkerSettings

__all__ = [
    "REGISTRY",
    "CountingSink",
    "ObservabilityServer",
    "ReadinessCheck",
    "job_finished",
    "server_for",
    "state_committed",
    "timed_extractor",
    "timed_fetcher",
]

log = structlog.get_logger("crawl_worker.observability")

REGISTRY = CollectorRegistry()
"""The crawler's own registry: only these metrics are exposed (no process collectors)."""

PAGES = Counter(
    "crawler_pages",
    "URLs that reached an outcome (fetched, failed, skipped), by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
FETCH_SECONDS = Histogram(
    "crawler_fetch_seconds",
    "Time to fetch one URL, redirects and retries included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
EXTRACT_SECONDS = Histogram(
    "crawler_extract_seconds",
    "Time to extract one page's text in the process pool, queueing included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
JOBS_RUNNING = Gauge(
    "crawler_jobs_running", "Crawl jobs this instance runs now.", registry=REGISTRY
)
JOBS_FINISHED = Counter(
    "crawler_jobs_finished",
    "Crawl jobs this instance ran to a terminal event, by terminal status.",
    ["status"],
    registry=REGISTRY,
)
EVENTS_EMITTED = Counter(
    "crawler_events_emitted",
    "Events published to the exchange, by type.",
    ["type"],
    registry=REGISTRY,
)
STATE_PIECE_BYTES_MAX = Gauge(
    "crawler_state_piece_bytes_max",
    "The largest BSON size (bytes) of a piece of durable crawl state this process wrote.",
    registry=REGISTRY,
)
STATE_COMMIT_SECONDS = Histogram(
    "crawler_state_commit_seconds",
    "Time to store one commit of a crawl's durable state and renew its lease.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
for _outcome in ("fetched", "failed", "skipped"):
    PAGES.labels(outcome=_outcome)
for _status in ("completed", "failed", "cancelled"):
    JOBS_FINISHED.labels(status=_status)

_TERMINAL: dict[type[Any], str] = {
    CrawlCompleted: "completed",
    CrawlFailed: "failed",
    CrawlCancelled: "cancelled",
}

ReadinessCheck = Callable[[], Awaitable[bool]]


class CountingSink:
    """Wraps an event sink; counts events and page outcomes that were published."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def emit(self, event: Any) -> None:
        await self._inner.emit(event)
        EVENTS_EMITTED.labels(type=event.type).inc()
        if isinstance(event, PageRecorded):
            PAGES.labels(outcome=event.outcome.value).inc()
        elif isinstance(event, UrlsSkipped):
            PAGES.labels(outcome="skipped").inc(len(event.urls))


class _TimedFetcher:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def fetch(self, url: str, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self._inner.fetch(url, *args, **kwargs)
        finally:
            FETCH_SECONDS.observe(time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:  # fetch_text and friends pass through
        return getattr(self._inner, name)


def timed_fetcher(inner: Any) -> Any:
    """The fetcher ``inner`` whose ``fetch`` calls are timed into ``crawler_fetch_seconds``."""
    return _TimedFetcher(inner)


def timed_extractor(
    inner: Callable[[bytes, str], Awaitable[Any]],
) -> Callable[[bytes, str], Awaitable[Any]]:
    """The extractor ``inner``, timed into ``crawler_extract_seconds``."""

    async def extract(body: bytes, url: str) -> Any:
        started = time.perf_counter()
        try:
            return await inner(body, url)
        finally:
            EXTRACT_SECONDS.observe(time.perf_counter() - started)

    return extract


class _Largest:
    """The running maximum a gauge shows."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self.value = 0

    def update(self, value: int) -> None:
        if value > self.value:
            self.value = value
            self._gauge.set(value)


_largest_piece = _Largest(STATE_PIECE_BYTES_MAX)


def state_committed(piece_sizes: Iterable[int], seconds: float) -> None:
    """One commit of durable state was stored: the BSON sizes of its pieces, and the time
    the commit (pieces and lease renewal) took."""
    _largest_piece.update(max(piece_sizes, default=0))
    STATE_COMMIT_SECONDS.observe(seconds)


def job_finished(terminal: Any) -> None:
    """Count the job's end by its terminal event."""
    status = _TERMINAL.get(type(terminal), "failed")
    JOBS_FINISHED.labels(status=status).inc()


class ObservabilityServer:
    """``/metrics``, ``/health/live`` and ``/health/ready`` on ``host:port`` (0: any free port)."""

    def __init__(
        self,
        host: str,
        port: int | None,
        checks: Mapping[str, ReadinessCheck],
        *,
        registry: CollectorRegistry = REGISTRY,
        before_scrape: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._checks = dict(checks)
        self._registry = registry
        self._before_scrape = before_scrape
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        if self._port is None:
            return  # switched off
        try:
            self._server = await asyncio.start_server(self._serve, self._host, self._port)
        except OSError as exc:  # metrics are auxiliary: the service still does its work
            log.warning("observability.unavailable", port=self._port, error=str(exc))
            return
        log.info("observability.listening", host=self._host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request_line = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers are not needed
                method, _, rest = request_line.decode("latin-1").partition(" ")
                path = rest.split(" ", 1)[0].split("?", 1)[0]
                status, content_type, body = await self._route(method, path)
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/metrics":
            if self._before_scrape is not None:
                try:
                    await self._before_scrape()
                except Exception as exc:  # a scrape still shows the counters
                    log.warning("metrics.refresh_failed", error=str(exc)[:300])
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self._registry)
        if path == "/health/live":
            return "200 OK", "application/json", b'{"status": "ok"}'
        if path == "/health/ready":
            failing = [name for name, check in self._checks.items() if not await _passes(check)]
            body = {"status": "unavailable" if failing else "ok", "failing": failing}
            status = "503 Service Unavailable" if failing else "200 OK"
            return status, "application/json", json.dumps(body).encode()
        return "404 Not Found", "text/plain", b"not found\n"


async def _passes(check: ReadinessCheck) -> bool:
    try:
        async with asyncio.timeout(3):
            return await check()
    except Exception:
        return False


def server_for(
    settings: WorkerSettings, running: Sized, broker_ping: ReadinessCheck
) -> ObservabilityServer:
    """The crawler's server: ready while the broker answers; ``running`` sizes the jobs gauge."""
    JOBS_RUNNING.set_function(lambda: len(running))
    return ObservabilityServer(
        settings.metrics_host, settings.metrics_port, {"broker": broker_ping}
    )
