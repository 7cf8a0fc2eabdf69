"""Settings of the renderer service, read from ``CRAWL_RENDERER_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crawl_runtime.settings import BrokerSettings, LogSettings, ProbeSettings, metrics_port_field

__all__ = ["RendererSettings"]


class RendererSettings(BrokerSettings, ProbeSettings, LogSettings, BaseSettings):
    """Every field can be set as ``CRAWL_RENDERER_<FIELD>`` (upper case; lists as JSON); the
    broker, probe and log fields are :mod:`crawl_runtime.settings`'s."""

    model_config = SettingsConfigDict(env_prefix="CRAWL_RENDERER_", env_nested_delimiter="__")

    renderer_id: str | None = Field(
        default=None, description="Name in replies and logs (default host:pid)"
    )
    chromium_path: str = Field(
        default="/usr/bin/chromium",
        description="The Chromium executable Playwright drives (Debian's `chromium` package)",
    )
    concurrency: int = Field(
        default=4, ge=1, description="Pages one process renders at once (its prefetch, too)"
    )
    page_timeout: float = Field(
        default=15.0,
        gt=0,
        description=(
            "Seconds one page may take, from its context's creation to its serialised DOM; "
            "past them the page is answered with an error and the crawler keeps its fetched HTML"
        ),
    )
    idle_wait: float = Field(
        default=2.0,
        ge=0,
        description=(
            "After `load`, seconds to wait at most for the page's requests to go quiet "
            "(quiet_window without one in flight), within page_timeout"
        ),
    )
    quiet_window: float = Field(
        default=0.1,
        ge=0,
        description=(
            "After `load`, the page is taken once none of its requests (all answered by the "
            "renderer, so all counted) has been in flight for this many seconds"
        ),
    )
    pages_per_context: int = Field(
        default=50,
        ge=1,
        description=(
            "Pages of one job rendered in one browser context (shared cookies and storage, as "
            "one visitor) before the job gets a fresh one; contexts are never shared by jobs"
        ),
    )
    context_idle: float = Field(
        default=10.0, gt=0, description="Seconds an unused context is kept before it is closed"
    )
    pages_per_browser: int = Field(
        default=200,
        ge=1,
        description=(
            "Pages a browser renders before it is replaced by a fresh one (closed once its "
            "last page is done): bounds the memory a long-lived browser gathers"
        ),
    )
    allowed_networks: list[str] = Field(
        default_factory=list,
        description=(
            "CIDR ranges the browser's requests may reach although private, loopback or "
            'link-local (as CRAWL_WORKER_ALLOWED_NETWORKS, e.g. ["127.0.0.0/8"] for local '
            "test sites). Empty: only public addresses"
        ),
    )
    max_requests_per_page: int = Field(
        default=200, ge=0, description="Requests of one page let through; later ones are blocked"
    )
    max_resource_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        description="A script, stylesheet or XHR answer larger than this is blocked",
    )
    max_html_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="A rendered DOM larger than this is answered with an error",
    )
    connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to connect")
    read_timeout: float = Field(default=10.0, gt=0, description="Seconds between bytes")
    user_agent: str = Field(
        default="crawl-platform/0.1 (+https://example.invalid/bot)",
        description="User-Agent of the browser and of the requests made for it",
    )
    metrics_port: int | None = metrics_port_field(9103)
