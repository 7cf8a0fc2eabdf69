"""Value objects used inside messages: the crawl request, counters and the status vocabularies."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "TERMINAL_STATUSES",
    "Counters",
    "CrawlRequest",
    "JobStatus",
    "Outcome",
    "StopReason",
    "WebhookEvent",
    "WebhookSpec",
]

MAX_URL_LENGTH = 2048


class JobStatus(StrEnum):
    """Where a job is in its lifecycle. Terminal states are absorbing."""

    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    STALLED = "stalled"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class Outcome(StrEnum):
    """How one URL of a crawl ended."""

    FETCHED = "fetched"
    FAILED = "failed"
    SKIPPED = "skipped"


class StopReason(StrEnum):
    """Why a crawl ended."""

    EXHAUSTED = "exhausted"
    PAGE_LIMIT = "page_limit"
    TIME_LIMIT = "time_limit"
    CANCELLED = "cancelled"
    ERROR = "error"


class Counters(BaseModel):
    """Cumulative counters of one job.

    Invariant: ``discovered == queued + in_flight + fetched + failed + skipped``. They only grow
    (but for ``queued`` and ``in_flight``), so a projection may combine them field by field.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    discovered: int = Field(default=0, ge=0)
    queued: int = Field(default=0, ge=0)
    in_flight: int = Field(default=0, ge=0)
    fetched: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    skipped: int = Field(default=0, ge=0)


class WebhookEvent(StrEnum):
    """What a webhook subscriber may ask to be told about."""

    STARTED = "started"
    PAGE = "page"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class WebhookSpec(BaseModel):
    """Where to deliver a job's events, and which ones. Deliveries are signed per Standard
    Webhooks with the tenant's secret; the URL obeys the crawler's address safety rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, description="http(s) endpoint")
    events: tuple[WebhookEvent, ...] = Field(
        default=(
            WebhookEvent.STARTED,
            WebhookEvent.COMPLETED,
            WebhookEvent.FAILED,
            WebhookEvent.CANCELLED,
        ),
        min_length=1,
        description="Events to deliver (default: every one but page)",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value)


PageLimit = Annotated[int, Field(ge=1, le=100_000)]
DepthLimit = Annotated[int, Field(ge=0, le=50)]


class CrawlRequest(BaseModel):
    """What a client asks to crawl. Validated at the edge (API) and again by every consumer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, description="Start URL (http/https)")
    max_pages: PageLimit = Field(default=100, description="Stop after this many fetched pages")
    max_depth: DepthLimit = Field(default=3, description="Link hops from the start URL")
    bypass_robots_domains: tuple[str, ...] = Field(
        default=(), description="Hosts whose robots.txt is not consulted"
    )
    webhook: WebhookSpec | None = Field(
        default=None, description="Deliver this job's events to a URL (optional)"
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value)


def _http_url(value: str) -> str:
    """An absolute http(s) URL with a host, a valid port and no credentials."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an absolute http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")
    return value
