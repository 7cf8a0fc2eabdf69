"""Events: facts a crawler reports about one job, in past tense."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crawl_contracts.envelope import Envelope
from crawl_contracts.models import Counters, Outcome, StopReason

__all__ = [
    "CrawlCancelled",
    "CrawlCompleted",
    "CrawlFailed",
    "CrawlHeartbeat",
    "CrawlLogged",
    "CrawlProgressed",
    "CrawlReleased",
    "CrawlStalled",
    "CrawlStarted",
    "PageRecorded",
    "PagesRecorded",
    "SkippedUrl",
    "UrlsSkipped",
    "page_records",
]


class CrawlStarted(Envelope):
    """A worker claimed the job and began (or resumed) crawling."""

    type: Literal["CrawlStarted"] = "CrawlStarted"
    worker_id: str


class PageRecorded(Envelope):
    """One URL reached its outcome. ``url`` is the normalised URL: the page's key."""

    type: Literal["PageRecorded"] = "PageRecorded"
    url: str
    outcome: Outcome
    reason: str | None = Field(default=None, description="Why failed or skipped")
    error: str | None = Field(
        default=None,
        description=(
            "What exactly went wrong, where a failure or skip had a cause beyond its reason: "
            "the network error, or robots.txt's answer for `robots_unavailable`"
        ),
    )
    http_status: int | None = None
    depth: int = Field(ge=0)
    attempts: int = Field(default=1, ge=0)
    final_url: str | None = Field(default=None, description="After redirects, if different")
    content_type: str | None = None
    title: str | None = None
    language: str | None = None
    description: str | None = None
    markdown: str | None = None
    content_hash: str | None = None
    page_count: int | None = Field(default=None, ge=0, description="A document's pages (PDF)")
    etag: str | None = Field(default=None, description="The response's ETag, for re-crawls")
    last_modified: str | None = Field(
        default=None, description="The response's Last-Modified, for re-crawls"
    )
    body_hash: str | None = Field(
        default=None, description="SHA-256 of the body as received: a re-crawl's same bytes"
    )
    links: tuple[str, ...] | None = Field(
        default=None,
        description=(
            "The page's links, resolved: what a re-crawl follows from it when the page is "
            "unchanged and its body is not read again"
        ),
    )
    change: Literal["added", "changed", "unchanged"] | None = Field(
        default=None, description="In a re-crawl: the page against the earlier job's"
    )
    rendered: bool = Field(
        default=False,
        description="The text was extracted from the page as a headless browser rendered it",
    )


class SkippedUrl(BaseModel):
    """One URL of an ``UrlsSkipped`` batch."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    url: str
    depth: int = Field(ge=0)
    reason: str


class UrlsSkipped(Envelope):
    """Several URLs skipped without a request (off the crawl's scope, past its depth or page
    limit), in one message: a crawl discovers many more such links than it fetches pages.

    The batch stands for one ``PageRecorded`` (outcome ``skipped``, no attempts) per URL, and
    takes as many sequence numbers: record ``i`` has the ordering key ``(attempt, seq + i)``.
    ``records()`` gives those events, with message ids derived from this message's, so a
    redelivered batch yields the same records."""

    type: Literal["UrlsSkipped"] = "UrlsSkipped"
    urls: list[SkippedUrl] = Field(min_length=1, max_length=1000)

    def records(self) -> list[PageRecorded]:
        namespace = uuid.UUID(self.message_id)
        return [
            PageRecorded(
                message_id=str(uuid.uuid5(namespace, str(i))),
                job_id=self.job_id,
                tenant=self.tenant,
                occurred_at=self.occurred_at,
                schema_version=self.schema_version,
                correlation_id=self.correlation_id,
                attempt=self.attempt,
                seq=self.seq + i,
                url=skipped.url,
                outcome=Outcome.SKIPPED,
                reason=skipped.reason,
                depth=skipped.depth,
                attempts=0,
            )
            for i, skipped in enumerate(self.urls)
        ]


class PagesRecorded(Envelope):
    """Several URLs' records in one message: a crawler sends its ``PageRecorded`` events in
    batches (when a batch is full, at each commit of its crawl's state, and before the
    terminal event), so a page costs the broker and the status service a part of a message.

    Each record is a whole ``PageRecorded`` with its own message id and ordering key (the
    batch's ``seq`` is its first record's; the records' sequence numbers need not follow each
    other: other events of the crawl take numbers in between). Every record belongs to the
    batch's job, tenant and attempt. ``records()`` gives them."""

    type: Literal["PagesRecorded"] = "PagesRecorded"
    pages: list[PageRecorded] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_job(self) -> PagesRecorded:
        for page in self.pages:
            if (page.job_id, page.tenant, page.attempt) != (self.job_id, self.tenant, self.attempt):
                raise ValueError(
                    f"record {page.message_id} is of job {page.job_id} (tenant {page.tenant}, "
                    f"attempt {page.attempt}), not the batch's"
                )
        return self

    def records(self) -> list[PageRecorded]:
        return list(self.pages)


class CrawlProgressed(Envelope):
    """Cumulative counters at this point of the crawl."""

    type: Literal["CrawlProgressed"] = "CrawlProgressed"
    counters: Counters


class CrawlLogged(Envelope):
    """One log line meant for the job's owner, about something no other event says (an
    extraction that failed, unreadable sitemaps). The lines for a crawl's start and end are
    made by the status service from ``CrawlStarted`` and the terminal events."""

    type: Literal["CrawlLogged"] = "CrawlLogged"
    level: Literal["debug", "info", "warning", "error"] = "info"
    message: str


class CrawlHeartbeat(Envelope):
    """The worker holding the job is alive."""

    type: Literal["CrawlHeartbeat"] = "CrawlHeartbeat"
    worker_id: str


class CrawlCompleted(Envelope):
    """The crawl ended normally: frontier exhausted or a limit reached."""

    type: Literal["CrawlCompleted"] = "CrawlCompleted"
    stop_reason: StopReason
    counters: Counters


class CrawlFailed(Envelope):
    """The crawl ended on an error it could not recover from."""

    type: Literal["CrawlFailed"] = "CrawlFailed"
    stop_reason: StopReason = StopReason.ERROR
    error_code: str
    error: str
    counters: Counters = Field(default_factory=Counters)


class CrawlCancelled(Envelope):
    """The crawl stopped because its owner asked."""

    type: Literal["CrawlCancelled"] = "CrawlCancelled"
    stop_reason: StopReason = StopReason.CANCELLED
    counters: Counters = Field(default_factory=Counters)


class CrawlReleased(Envelope):
    """The attempt's worker handed the job back as it stopped: not an end of the job.

    Sent after a last commit of the crawl's state and the release of its lease; ``counters``
    are those committed (URLs that were in flight counted as queued). The job stays
    ``running``: the status service at once asks another worker for the next attempt
    (``CrawlResumeRequested``), which resumes from that commit."""

    type: Literal["CrawlReleased"] = "CrawlReleased"
    worker_id: str = Field(description="The worker that handed the job back")
    reason: str = Field(
        default="shutdown", description="Why: ``shutdown``, the worker was stopping (SIGTERM)"
    )
    counters: Counters


class CrawlStalled(Envelope):
    """The worker holding attempt ``attempt`` fell silent for longer than the stall timeout.

    Reported by the status service; a ``CrawlResumeRequested`` with the next attempt (or a
    ``CrawlFailed`` once the attempts are used up) follows."""

    type: Literal["CrawlStalled"] = "CrawlStalled"
    silent_seconds: float = Field(ge=0, description="Seconds since the job's last activity")
    worker_id: str | None = Field(default=None, description="The worker that fell silent")


def page_records(messages: Iterable[Any]) -> list[PageRecorded]:
    """The ``PageRecorded`` events among ``messages``, each batch (``UrlsSkipped``,
    ``PagesRecorded``) expanded in place."""
    records: list[PageRecorded] = []
    for message in messages:
        if isinstance(message, PageRecorded):
            records.append(message)
        elif isinstance(message, UrlsSkipped | PagesRecorded):
            records.extend(message.records())
    return records
