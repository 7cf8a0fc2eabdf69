"""Metrics and health of the renderer: its Prometheus metrics and its probe server, ready
while the broker answers and the browser is connected."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from crawl_renderer.settings import RendererSettings
from crawl_runtime.probes import ObservabilityServer, ReadinessCheck

__all__ = [
    "BLOCKED",
    "BROWSERS",
    "PAGES",
    "REGISTRY",
    "RENDERING",
    "RENDER_SECONDS",
    "server_for",
]

REGISTRY = CollectorRegistry()

PAGES = Counter(
    "renderer_pages",
    "Render requests handled, by result (rendered, error; expired or cancelled: dropped).",
    ["result"],
    registry=REGISTRY,
)
RENDER_SECONDS = Histogram(
    "renderer_render_seconds",
    "Time to render one page, context creation to serialised DOM.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
    registry=REGISTRY,
)
BLOCKED = Counter(
    "renderer_blocked_requests",
    "Requests of rendered pages refused (addresses, schemes, limits, websockets).",
    registry=REGISTRY,
)
BROWSERS = Counter(
    "renderer_browsers_launched",
    "Browsers launched (the first one, replacements after pages_per_browser, crashes).",
    registry=REGISTRY,
)
RENDERING = Gauge("renderer_pages_rendering", "Pages being rendered now.", registry=REGISTRY)


def server_for(
    settings: RendererSettings, checks: dict[str, ReadinessCheck]
) -> ObservabilityServer:
    return ObservabilityServer(
        settings.metrics_host, settings.metrics_port, checks, registry=REGISTRY
    )
