"""Metrics and health of the crawler: its Prometheus metrics, and its probe server.

The probe server (:mod:`crawl_runtime.probes`) exposes this registry on ``GET /metrics`` and
is ready while the broker answers.

Instrumentation wraps the crawl's ports instead of editing the engine: ``timed_fetcher``,
``timed_extractor`` and ``CountingSink`` observe what passes through them.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sized
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from crawl_contracts import (
    CrawlCancelled,
    CrawlCompleted,
    CrawlFailed,
    PageRecorded,
    PagesRecorded,
    UrlsSkipped,
)
from crawl_runtime.probes import ObservabilityServer, ReadinessCheck
from crawl_worker.rendering import RendererUnavailableError
from crawl_worker.settings import WorkerSettings

__all__ = [
    "REGISTRY",
    "CountingSink",
    "extract_dropped",
    "extracted",
    "fell_back",
    "job_finished",
    "server_for",
    "state_committed",
    "timed_extractor",
    "timed_fetcher",
    "timed_renderer",
]

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
JOBS_HANDED_BACK = Counter(
    "crawler_jobs_handed_back",
    "Crawl jobs this instance handed back as it stopped: released (last commit stored, lease "
    "released, CrawlReleased confirmed) or not (left to the lease's expiry and the stall "
    "detector).",
    ["result"],
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
RENDERS = Counter(
    "crawler_renders",
    "Pages sent to the renderers, by result (rendered, failed: recorded from the fetched "
    "HTML, unavailable: no renderer ran).",
    ["result"],
    registry=REGISTRY,
)
RENDER_SECONDS = Histogram(
    "crawler_render_seconds",
    "Time from a render request to its answer (or to giving up), queueing included.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
    registry=REGISTRY,
)
EXTRACTIONS = Counter(
    "crawler_extractions",
    "Pages extracted, by where: local (this crawler, its own page), remote (its own page, "
    "answered through the crawler.extract queue by any crawler), served (a page of any "
    "crawl, taken from the queue and extracted here).",
    ["where"],
    registry=REGISTRY,
)
EXTRACTIONS_SERVING = Gauge(
    "crawler_extractions_serving",
    "Requests from the crawler.extract queue this crawler is extracting now.",
    registry=REGISTRY,
)
EXTRACT_FALLBACKS = Counter(
    "crawler_extract_fallbacks",
    "Pages sent to the extraction queue and then extracted here, by why (timeout: no "
    "answer in time, unreadable: an answer that did not parse, unpublished).",
    ["reason"],
    registry=REGISTRY,
)
EXTRACT_DROPPED = Counter(
    "crawler_extract_requests_dropped",
    "Extraction requests taken from the queue and dropped unanswered, by why (expired: "
    "past their deadline, cancelled: their job's cancel was heard).",
    ["reason"],
    registry=REGISTRY,
)
for _where in ("local", "remote", "served"):
    EXTRACTIONS.labels(where=_where)
for _reason in ("timeout", "unreadable", "unpublished"):
    EXTRACT_FALLBACKS.labels(reason=_reason)
for _reason in ("expired", "cancelled"):
    EXTRACT_DROPPED.labels(reason=_reason)
for _outcome in ("fetched", "failed", "skipped"):
    PAGES.labels(outcome=_outcome)
for _status in ("completed", "failed", "cancelled"):
    JOBS_FINISHED.labels(status=_status)
for _result in ("released", "not_released"):
    JOBS_HANDED_BACK.labels(result=_result)
for _result in ("rendered", "failed", "unavailable"):
    RENDERS.labels(result=_result)

_TERMINAL: dict[type[Any], str] = {
    CrawlCompleted: "completed",
    CrawlFailed: "failed",
    CrawlCancelled: "cancelled",
}


class CountingSink:
    """Wraps an event sink; counts events and page outcomes that were published."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def emit(self, event: Any) -> None:
        await self._inner.emit(event)
        EVENTS_EMITTED.labels(type=event.type).inc()
        if isinstance(event, PageRecorded):
            PAGES.labels(outcome=event.outcome.value).inc()
        elif isinstance(event, PagesRecorded):
            for page in event.pages:
                PAGES.labels(outcome=page.outcome.value).inc()
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


class _TimedRenderer:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def render(self, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            answer = await self._inner.render(*args)
        except RendererUnavailableError:
            RENDERS.labels(result="unavailable").inc()
            raise
        RENDER_SECONDS.observe(time.perf_counter() - started)
        RENDERS.labels(result="rendered" if answer.html is not None else "failed").inc()
        return answer


def timed_renderer(inner: Any) -> Any:
    """The render port ``inner``, counted into ``crawler_renders_total`` and timed into
    ``crawler_render_seconds``."""
    return _TimedRenderer(inner)


def extracted(where: str) -> None:
    """One page's extraction ran to an end (its text or its failure): ``local``,
    ``remote`` or ``served``."""
    EXTRACTIONS.labels(where=where).inc()


def fell_back(reason: str) -> None:
    """A page sent to the extraction queue is extracted here after all, for ``reason``."""
    EXTRACT_FALLBACKS.labels(reason=reason).inc()


def extract_dropped(reason: str) -> None:
    """An extraction request was dropped unanswered, for ``reason``."""
    EXTRACT_DROPPED.labels(reason=reason).inc()


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


def job_handed_back(*, released: bool) -> None:
    """Count a job handed back as this instance stopped."""
    JOBS_HANDED_BACK.labels(result="released" if released else "not_released").inc()


def server_for(
    settings: WorkerSettings, running: Sized, broker_ping: ReadinessCheck
) -> ObservabilityServer:
    """The crawler's server: ready while the broker answers; ``running`` sizes the jobs gauge."""
    JOBS_RUNNING.set_function(lambda: len(running))
    return ObservabilityServer(
        settings.metrics_host, settings.metrics_port, {"broker": broker_ping}, registry=REGISTRY
    )
