"""Rendering one page in a headless browser: a request and its reply, between a crawler and
the renderer service.

Not crawl events: a crawler asks (``RenderRequested``, on the crawl exchange under
``routing.RENDER_ROUTING_KEY``, which the ``renderer.requests`` work queue is bound to, with an
AMQP ``reply_to`` and ``correlation_id``) and one renderer answers (``PageRendered``, to that
``reply_to`` with the same ``correlation_id``). Neither is projected: the crawler records the
page (``PageRecorded.rendered``) and logs what the renderer blocked. Bodies travel as base64
in the JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crawl_contracts.envelope import Envelope, new_id

__all__ = ["BlockedRequest", "PageRendered", "RenderPoliteness", "RenderRequested"]


class RenderPoliteness(BaseModel):
    """The job's per-host politeness, which the browser's own requests keep too."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    concurrency: int = Field(default=8, ge=1, description="Requests in flight per host")
    delay: float = Field(default=0.0, ge=0, description="Seconds between request starts per host")


class RenderRequested(Envelope):
    """Render ``url`` from the bytes the crawler fetched (``body``): the browser's navigation
    is answered with them, never fetched again; its other requests pass the renderer's
    address policy and ``politeness``."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", ser_json_bytes="base64", val_json_bytes="base64"
    )

    type: Literal["RenderRequested"] = "RenderRequested"
    url: str = Field(description="The page's URL (after redirects): the document's address")
    body: bytes = Field(description="The page as fetched (base64 in JSON)")
    content_type: str = Field(default="text/html")
    politeness: RenderPoliteness = Field(default_factory=RenderPoliteness)
    deadline: datetime = Field(
        description="When the crawler stops waiting: a renderer drops the request after it"
    )


class BlockedRequest(BaseModel):
    """A request of the page that the renderer did not let through, and why."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str
    reason: str = Field(description="e.g. `address not allowed: link-local (169.254.169.254)`")


class PageRendered(BaseModel):
    """A renderer's answer to one ``RenderRequested``: the rendered HTML, or the error."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["PageRendered"] = "PageRendered"
    message_id: str = Field(default_factory=new_id)
    job_id: str
    url: str
    html: str | None = Field(default=None, description="The DOM after rendering, serialised")
    error: str | None = Field(default=None, description="Why the page was not rendered")
    blocked: tuple[BlockedRequest, ...] = Field(
        default=(), description="Requests refused (addresses, schemes, limits), at most 50"
    )
    requests: int = Field(default=0, ge=0, description="Requests of the page let through")
    seconds: float = Field(default=0.0, ge=0, description="Time spent rendering")
    renderer_id: str | None = None
