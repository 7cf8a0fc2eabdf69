"""Commands: requests for something to happen. Anyone may publish them to the exchange."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from crawl_contracts.envelope import Envelope
from crawl_contracts.models import CrawlRequest

__all__ = ["CrawlCancelRequested", "CrawlRequested", "CrawlResumeRequested"]


class CrawlRequested(Envelope):
    """Start a crawl. The status service creates the job document from this command alone, so a
    job published straight to the broker ends like one submitted over REST."""

    type: Literal["CrawlRequested"] = "CrawlRequested"
    request: CrawlRequest
    submitted_by: str | None = Field(default=None, description="User who asked, if known")


class CrawlCancelRequested(Envelope):
    """Stop a crawl. Broadcast to every crawler instance."""

    type: Literal["CrawlCancelRequested"] = "CrawlCancelRequested"
    requested_by: str | None = None


class CrawlResumeRequested(Envelope):
    """Resume a stalled or handed-back crawl from its last committed state.

    Asked by the status service for the next attempt, when the job's worker fell silent
    (``CrawlStalled``) or handed it back (``CrawlReleased``)."""

    type: Literal["CrawlResumeRequested"] = "CrawlResumeRequested"
    request: CrawlRequest
    reason: str = "stalled"
