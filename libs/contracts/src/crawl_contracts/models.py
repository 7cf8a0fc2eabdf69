"""Value objects used inside messages: the crawl request, counters and the status vocabularies."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

__all__ = [
    "TERMINAL_STATUSES",
    "Counters",
    "CrawlRequest",
    "JobStatus",
    "Outcome",
    "RenderMode",
    "SitemapMode",
    "StopReason",
    "WebhookEvent",
    "WebhookSpec",
]

MAX_URL_LENGTH = 2048
# What ``_http_url`` accepts, as far as JSON Schema can say it (the OpenAPI document states it):
# an http(s) scheme in any case, a host without credentials, a port of 0-65535, then anything.
# Not ``format: uri``: the validator takes characters RFC 3986 does not (as browsers do).
_HTTP_URL_SCHEMA: dict[str, JsonValue] = {
    "pattern": (
        r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@:\[\]]+"
        r"(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])?)?"
        r"(?:[/?#][\s\S]*)?\s*$"
    ),
}
# Hard upper bound of ``CrawlRequest.max_duration`` (7 days); operators configure a lower cap.
MAX_DURATION_SECONDS = 7 * 24 * 3600


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
    # A re-crawl (``since``) found the page as the earlier job recorded it: the server
    # answered 304 to a conditional request, or sent the same bytes or the same text again.
    # Its record carries the earlier job's content; nothing was extracted again.
    UNCHANGED = "unchanged"


class StopReason(StrEnum):
    """Why a crawl ended."""

    EXHAUSTED = "exhausted"
    PAGE_LIMIT = "page_limit"
    TIME_LIMIT = "time_limit"
    CANCELLED = "cancelled"
    ERROR = "error"


class Counters(BaseModel):
    """Cumulative counters of one job.

    Invariant: ``discovered == queued + in_flight + fetched + failed + skipped + unchanged``.
    They only grow (but for ``queued`` and ``in_flight``), so a projection may combine them
    field by field.

    A re-crawl (``CrawlRequest.since``) also counts its pages against the earlier job's:
    ``added`` and ``changed`` split ``fetched`` (a page the earlier job had no content for, or
    whose text differs), ``unchanged`` is the outcome, and ``removed`` (set when the crawl has
    visited everything it could reach) the earlier job's pages this one has no content for.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    discovered: int = Field(default=0, ge=0)
    queued: int = Field(default=0, ge=0)
    in_flight: int = Field(default=0, ge=0)
    fetched: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    skipped: int = Field(default=0, ge=0)
    unchanged: int = Field(default=0, ge=0)
    added: int = Field(default=0, ge=0)
    changed: int = Field(default=0, ge=0)
    removed: int = Field(default=0, ge=0)


class SitemapMode(StrEnum):
    """How a crawl uses the site's sitemaps (named in robots.txt, or ``/sitemap.xml``)."""

    INCLUDE = "include"  # sitemap URLs join the links found on pages
    SKIP = "skip"  # sitemaps are not read
    ONLY = "only"  # only the start URL and sitemap URLs; links on pages are not followed


class RenderMode(StrEnum):
    """Whether a crawl's HTML pages are rendered by a headless browser before extraction.

    The rule ``auto`` applies is the crawler's (``crawl_worker.rendering.needs_rendering``):
    a page is rendered when its HTML loads scripts but shows little text without them."""

    NEVER = "never"  # the fetched HTML as it came
    AUTO = "auto"  # only pages whose fetched HTML has too little text for its scripts
    ALWAYS = "always"  # every HTML page


MAX_PATTERNS = 20
MAX_PATTERN_LENGTH = 500
_REGEX_SCHEMA: dict[str, JsonValue] = {
    "type": "string",
    "format": "regex",
    "maxLength": MAX_PATTERN_LENGTH,
}


class WebhookEvent(StrEnum):
    """What a webhook subscriber may ask to be told about."""

    STARTED = "started"
    PAGE = "page"
    PAGE_CHANGED = "page.changed"  # a re-crawl's page that is new or whose text changed
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class WebhookSpec(BaseModel):
    """Where to deliver a job's events, and which ones. Deliveries are signed per Standard
    Webhooks with the tenant's secret; the URL obeys the crawler's address safety rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="http(s) endpoint",
        json_schema_extra=_HTTP_URL_SCHEMA,
    )
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


PageLimit = Annotated[int, Field(ge=1, le=1_000_000)]
DepthLimit = Annotated[int, Field(ge=0, le=50)]


class CrawlRequest(BaseModel):
    """What a client asks to crawl. Validated at the edge (API) and again by every consumer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="Start URL (http/https)",
        json_schema_extra=_HTTP_URL_SCHEMA,
    )
    max_pages: PageLimit = Field(default=100, description="Stop after this many fetched pages")
    max_depth: DepthLimit = Field(default=3, description="Link hops from the start URL")
    bypass_robots_domains: tuple[str, ...] = Field(
        default=(), description="Hosts whose robots.txt is not consulted"
    )
    include: tuple[str, ...] = Field(
        default=(),
        max_length=MAX_PATTERNS,
        description="URL regexes (Python syntax, searched): when given, a URL must match one",
        json_schema_extra={"items": _REGEX_SCHEMA},
    )
    exclude: tuple[str, ...] = Field(
        default=(),
        max_length=MAX_PATTERNS,
        description="URL regexes (Python syntax, searched): a URL matching one is out of scope",
        json_schema_extra={"items": _REGEX_SCHEMA},
    )
    allow_subdomains: bool = Field(
        default=False, description="Subdomains of the start URL's host are in scope"
    )
    sitemap: SitemapMode = Field(
        default=SitemapMode.INCLUDE, description="Use the site's sitemaps: include, skip, only"
    )
    per_host_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Requests in flight per host (capped by the operator's limit)",
    )
    min_delay: float | None = Field(
        default=None,
        ge=0,
        le=60,
        description="Seconds between request starts per host (never below the operator's floor)",
    )
    max_duration: float | None = Field(
        default=None,
        gt=0,
        le=MAX_DURATION_SECONDS,
        description=(
            "Seconds the crawl may run before it ends with stop_reason=time_limit; the crawler "
            "caps it at its operator maximum (default: that maximum)"
        ),
    )
    webhook: WebhookSpec | None = Field(
        default=None, description="Deliver this job's events to a URL (optional)"
    )
    render: RenderMode = Field(
        default=RenderMode.AUTO,
        description=(
            "Render HTML pages in a headless browser before extraction: `never`; `auto` "
            "(pages whose HTML loads scripts but carries under 200 characters of visible "
            "text); `always`. A page that could not be rendered is recorded from its "
            "fetched HTML, with a log line naming the cause"
        ),
    )
    since: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[0-9A-Za-z._~-]+$",
        description=(
            "Re-crawl against an earlier finished job of the same tenant and start URL: pages "
            "are asked for conditionally (If-None-Match, If-Modified-Since), an unchanged one "
            "is recorded `unchanged` without being extracted again, and the job's changes "
            "(added, changed, removed, unchanged) are listed at /changes"
        ),
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("include", "exclude")
    @classmethod
    def _regexes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if len(pattern) > MAX_PATTERN_LENGTH:
                raise ValueError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return value


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
