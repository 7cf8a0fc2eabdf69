"""Extracting one fetched page's text: a request and its reply, between the crawler that owns
a job and whichever crawler serves the extraction queue.

Not crawl events: the job's owner asks (``ExtractRequested``, on the crawl exchange under
``routing.EXTRACT_ROUTING_KEY``, which the ``crawler.extract`` work queue is bound to, with an
AMQP ``reply_to`` and ``correlation_id``) and one crawler answers (``PageExtracted``, to that
``reply_to`` with the same ``correlation_id``). Neither is projected: the owner records the page
(``PageRecorded``) as if it had extracted it itself. Bodies travel as base64 in the JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crawl_contracts.envelope import Envelope, new_id

__all__ = ["ExtractRequested", "ExtractionFailure", "PageExtracted"]


class ExtractRequested(Envelope):
    """Extract one page's text, metadata and links, as the job's owner would itself.

    ``body`` is the page as fetched (or rendered) at ``url``."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", ser_json_bytes="base64", val_json_bytes="base64"
    )

    type: Literal["ExtractRequested"] = "ExtractRequested"
    url: str = Field(description="The page's URL (after redirects): the base of its links")
    body: bytes = Field(description="The page as fetched or rendered (base64 in JSON)")
    deadline: datetime = Field(
        description="When the owner stops waiting: a crawler drops the request after it"
    )


class ExtractionFailure(BaseModel):
    """Why a page could not be extracted, as the owner records it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: Literal["timeout", "document", "error"] = Field(
        description=(
            "`timeout`: past the extractor's time limit; `document`: a document (PDF) that "
            "could not be read; `error`: anything else"
        )
    )
    reason: str = Field(
        description="The page record's reason: `extraction_timeout`, `pdf_damaged`, "
        "`pdf_encrypted`, `extraction_error`"
    )
    detail: str = Field(default="", description="The cause (for `error`, the exception)")


class PageExtracted(BaseModel):
    """A crawler's answer to one ``ExtractRequested``: the extraction, or its failure.

    Every field of the extraction, or ``error`` saying why there is none."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["PageExtracted"] = "PageExtracted"
    message_id: str = Field(default_factory=new_id)
    job_id: str
    url: str
    title: str | None = None
    markdown: str = ""
    language: str | None = None
    description: str | None = None
    content_hash: str | None = None
    links: tuple[str, ...] = Field(default=(), description="Link targets as written (href)")
    canonical: str | None = Field(default=None, description="`<link rel=canonical>` as written")
    base: str | None = Field(default=None, description="`<base href>` as written")
    page_count: int | None = Field(default=None, description="A document's pages (PDF)")
    error: ExtractionFailure | None = Field(
        default=None, description="Set when the page could not be extracted"
    )
    seconds: float = Field(default=0.0, ge=0, description="Time the extraction took")
    extractor_id: str | None = Field(default=None, description="The crawler that extracted it")
