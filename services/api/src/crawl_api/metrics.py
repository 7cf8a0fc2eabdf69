"""Prometheus metrics of the API: ``GET /metrics`` and a request-counting middleware.

Request counts and latencies are observed by ``MetricsMiddleware`` (labelled by route
template, never by raw path, so job ids do not explode the label space). Unfinished jobs by
status are counted in the projection at scrape time, on its ``status`` index: they describe
the fleet, not this process, and stay correct with any number of API replicas. Finished jobs
and pages are not counted here (a count of them would read the whole history at every
scrape): the status service's counters ``status_events_projected_total`` and
``status_pages_projected_total`` give their rates.

The endpoint exposes aggregates over every tenant and nothing else, so it is served without a
token, like a health probe; keep it on an internal network.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from pymongo.asynchronous.database import AsyncDatabase

from crawl_schema import names
from crawl_schema.queries import UNFINISHED

__all__ = ["REGISTRY", "MetricsMiddleware", "metrics"]

REGISTRY = CollectorRegistry()
"""The API's own registry; one per process."""

REQUESTS = Counter(
    "api_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "api_request_seconds",
    "Time to answer one HTTP request, by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
JOBS = Gauge(
    "crawl_jobs",
    "Unfinished crawl jobs in the projection, by status (read from MongoDB at scrape time).",
    ["status"],
    registry=REGISTRY,
)


class MetricsMiddleware:
    """ASGI middleware counting HTTP requests; use as ``middleware=[MetricsMiddleware]``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = str(scope.get("path_template") or "unmatched")
            REQUESTS.labels(method=str(scope.get("method")), route=route, status=str(status)).inc()
            REQUEST_SECONDS.labels(route=route).observe(time.perf_counter() - started)


async def _refresh(database: AsyncDatabase[dict[str, Any]]) -> None:
    crawls = database[names.CRAWLS]
    for status in UNFINISHED:
        JOBS.labels(status=status).set(await crawls.count_documents({"status": status}))


@get("/metrics", summary="Prometheus metrics", tags=["health"], include_in_schema=False)
async def metrics(database: NamedDependency[AsyncDatabase[dict[str, Any]]]) -> Response[bytes]:
    await _refresh(database)

    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
