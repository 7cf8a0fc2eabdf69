"""Metrics and health of the status service: its Prometheus metrics, and its probe server.

The probe server (:mod:`crawl_runtime.probes`) exposes this registry on ``GET /metrics``,
refreshing the gauges read at scrape time (jobs by state from MongoDB, dead letters from
RabbitMQ) first, and is ready while broker and database answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from faststream.rabbit import RabbitBroker
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pymongo import AsyncMongoClient

from crawl_contracts import Message, PageRecorded, routing
from crawl_runtime.probes import ObservabilityServer
from crawl_runtime.topology import dead_letter_queue
from crawl_schema import names
from crawl_schema.queries import UNFINISHED
from crawl_status.settings import StatusSettings

__all__ = [
    "REGISTRY",
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

_WORK_QUEUES = (
    routing.CRAWLER_REQUESTS_QUEUE,
    routing.STATUS_QUEUE,
    routing.EXTRACT_REQUESTS_QUEUE,
)


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
        for work_queue in _WORK_QUEUES:
            dead = dead_letter_queue(work_queue)
            result = await (await broker.declare_queue(dead)).declare()
            DEAD_LETTERS.labels(queue=dead.name).set(result.message_count or 0)

    return ObservabilityServer(
        settings.metrics_host,
        settings.metrics_port,
        {"broker": broker_ready, "database": database_ready},
        registry=REGISTRY,
        before_scrape=refresh,
    )
