"""Metrics and health of the status service: Prometheus metrics and a tiny HTTP server.

The server answers ``GET /metrics`` (Prometheus text format), ``GET /health/live`` (the
process answers) and ``GET /health/ready`` (broker and database answer: 200, else 503 with
the failing check named). It runs on the service's event loop, so checks and the scrape-time
refresh of the gauges (jobs by state from MongoDB, dead letters from RabbitMQ) may await.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from faststream.rabbit import QueueType, RabbitBroker, RabbitQueue
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from pymongo import AsyncMongoClient

from crawl_contracts import Message, PageRecorded, routing
from crawl_schema import names
from crawl_schema.queries import UNFINISHED
from crawl_status.settings import StatusSettings

__all__ = [
    "REGISTRY",
    "ObservabilityServer",
    "ReadinessCheck",
    "projected",
    "rejected",
    "server_for",
]

log = structlog.get_logger("crawl_status")

REGISTRY = CollectorRegistry()
"""The status service's own registry: only these metrics are exposed."""

EVENTS_PROJECTED = Counter(
    "status_events_projected",
    "Messages projected into MongoDB, by type (redeliveries included).",
    ["type"],
    registry=REGISTRY,
)
PAGES_PROJECTED = Counter(
    "status_pages_projected",
    "PageRecorded events projected, by outcome (fetched, failed, skipped).",
    ["outcome"],
    registry=REGISTRY,
)
MESSAGES_REJECTED = Counter(
    "status_messages_rejected",
    "Messages that were not valid and went to the dead-letter queue.",
    registry=REGISTRY,
)
PROJECTION_LAG = Histogram(
    "status_projection_lag_seconds",
    "Time from a message's occurred_at to its projection.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
JOBS = Gauge(
    "crawl_jobs",
    "Unfinished crawl jobs in the projection, by status (read from MongoDB at scrape time, "
    "on the status index; finished jobs are counted by status_events_projected_total).",
    ["status"],
    registry=REGISTRY,
)
DEAD_LETTERS = Gauge(
    "crawl_dead_letters",
    "Messages waiting in a dead-letter queue (read from RabbitMQ at scrape time).",
    ["queue"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "status_webhook_deliveries",
    "Webhook delivery attempts, by result.",
    ["result"],
    registry=REGISTRY,
)
for _outcome in ("fetched", "failed", "skipped"):
    PAGES_PROJECTED.labels(outcome=_outcome)
for _result in ("delivered", "failed"):
    WEBHOOK_DELIVERIES.labels(result=_result)

_DEAD_LETTER_QUEUES = tuple(
    routing.dead_letter_queue(q) for q in (routing.CRAWLER_REQUESTS_QUEUE, routing.STATUS_QUEUE)
)

ReadinessCheck = Callable[[], Awaitable[bool]]


def projected(message: Message) -> None:
    """Count one projected message and log its summary line."""
    EVENTS_PROJECTED.labels(type=message.type).inc()
    if isinstance(message, PageRecorded):
        PAGES_PROJECTED.labels(outcome=message.outcome.value).inc()
    lag = (datetime.now(UTC) - message.occurred_at).total_seconds()
    PROJECTION_LAG.observe(max(lag, 0.0))
    log.info("message.projected", type=message.type, seq=message.seq, lag_ms=round(lag * 1000))


def rejected() -> None:
    MESSAGES_REJECTED.inc()


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
    settings: StatusSettings,
    broker: RabbitBroker,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> ObservabilityServer:
    """The status service's server: ready while broker and database answer."""
    crawls = mongo[settings.mongodb_database][names.CRAWLS]

    async def broker_ready() -> bool:
        return bool(await broker.ping(timeout=2.0))

    async def database_ready() -> bool:
        await mongo.admin.command("ping")
        return True

    async def refresh() -> None:
        for status in UNFINISHED:  # a count costs what it counts: finished jobs pile up
            JOBS.labels(status=status).set(await crawls.count_documents({"status": status}))
        for queue in _DEAD_LETTER_QUEUES:
            declared = await broker.declare_queue(
                RabbitQueue(queue, queue_type=QueueType.QUORUM, durable=True)
            )
            result = await declared.declare()
            DEAD_LETTERS.labels(queue=queue).set(result.message_count or 0)

    return ObservabilityServer(
        settings.metrics_host,
        settings.metrics_port,
        {"broker": broker_ready, "database": database_ready},
        before_scrape=refresh,
    )
