"""The documents of the crawl database: their fields, and the functions that build them.

Every service builds a document through this module, so the API's first record of a job, the
status service's projection of it and the crawler's reads agree on its shape.

``crawls`` (:func:`new_job_document`): ``_id`` (job id), ``tenant``, ``status``, ``counters``
(:data:`COUNTER_FIELDS`), ``request``, ``submitted_by``, timestamps (``created_at``,
``started_at``, ``last_activity_at``, ``finished_at``, ``cancel_requested_at``,
``expires_at``), ``stop_reason``, ``error``, ``attempt``, ``worker_id``, the reducer's
bookkeeping (``counters_key``, ``terminal``, ``started_key``, ``stalled_attempt``,
``released_attempts``), the keys
the job list reads (``list_key``, ``host``) and ``version`` (compare-and-set).

``crawl_pages`` (:func:`page_record`): one per URL of a job; ``order`` is the ordering number
of the event that recorded it, so listing by ``order`` lists pages in the order they were
recorded.

``crawl_logs`` (:func:`log_line`): one per log line, ``_id`` from the producer's ordering key.

``assistant_runs`` (:func:`assistant_run`): one per run of the seed routes, the jobs of an
assistant's start URLs (made by the API's start route, or by a fire of the assistant's
schedule).

``crawler_leases`` and ``crawler_state``: see :mod:`crawl_schema.state`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crawl_contracts import JobStatus, OrderingKey
from crawl_schema.keys import list_key, log_id, page_id, url_host

__all__ = [
    "CONTENT_OUTCOMES",
    "COUNTER_FIELDS",
    "JOB_DEFAULTS",
    "JOB_SUMMARY_FIELDS",
    "OUTCOME_COUNTERS",
    "PAGE_RECORD_FIELDS",
    "JobDocument",
    "LogLine",
    "PageRecord",
    "assistant_run",
    "empty_counters",
    "job_list_fields",
    "log_line",
    "new_job_document",
    "page_record",
]

JobDocument = dict[str, Any]
PageRecord = dict[str, Any]
LogLine = dict[str, Any]

COUNTER_FIELDS = (
    "discovered",
    "queued",
    "in_flight",
    "fetched",
    "failed",
    "skipped",
    "unchanged",
    "added",
    "changed",
    "removed",
)
"""A job's counters (``crawl_contracts.Counters``); they add up: ``discovered = queued +
in_flight + fetched + failed + skipped + unchanged``; ``added``, ``changed`` and ``removed``
compare a re-crawl's pages with the earlier job's."""
OUTCOME_COUNTERS = ("fetched", "failed", "skipped", "unchanged")
CONTENT_OUTCOMES = ("fetched", "unchanged")
"""The outcomes of records that hold a page's text (``unchanged``: a re-crawl's, carried from
the earlier job)."""
"""The counters of URLs whose outcome is in the ledger (they never decrease)."""

JOB_DEFAULTS: JobDocument = {
    "request": None,
    "submitted_by": None,
    "created_at": None,
    "started_at": None,
    "last_activity_at": None,
    "finished_at": None,
    "stop_reason": None,
    "error": None,
    "attempt": 1,
    "worker_id": None,
    "cancel_requested_at": None,
    # Bookkeeping of the projection's reducer: the ordering keys behind the current values.
    "counters_key": None,
    "terminal": None,
    "started_key": None,
    "stalled_attempt": None,
    "released_attempts": None,
    "expires_at": None,
    # What the job list reads (``crawl_schema.queries``), derived from the two above.
    "list_key": None,
    "host": None,
}
"""Every field of a job document besides ``_id``, ``tenant``, ``status``, ``counters`` and
``version``, at the value it has before anything set it."""


JOB_SUMMARY_FIELDS = (
    "tenant",
    "status",
    "counters",
    "request",
    "created_at",
    "started_at",
    "last_activity_at",
    "finished_at",
    "stop_reason",
    "error",
    "attempt",
    "list_key",
)
"""What a list of jobs shows of each (its projection leaves out the reducer's bookkeeping:
on the embedded FerretDB, every field a read returns costs time)."""


def empty_counters() -> dict[str, int]:
    return dict.fromkeys(COUNTER_FIELDS, 0)


def job_list_fields(
    job_id: str, request_url: str | None, created_at: datetime | None
) -> JobDocument:
    """The keys the job list reads, derived from the request and the creation time."""
    return {
        "list_key": list_key(created_at, job_id) if created_at is not None else None,
        "host": url_host(request_url) if request_url else None,
    }


def new_job_document(
    job_id: str,
    tenant: str,
    *,
    request: dict[str, Any] | None = None,
    submitted_by: str | None = None,
    created_at: datetime | None = None,
) -> JobDocument:
    """A ``pending`` job document, as a job's command makes it (without ``version``)."""
    return {
        "_id": job_id,
        "tenant": tenant,
        "status": JobStatus.PENDING.value,
        "counters": empty_counters(),
        **JOB_DEFAULTS,
        "request": request,
        "submitted_by": submitted_by,
        "created_at": created_at,
        "last_activity_at": created_at,
        **job_list_fields(job_id, request.get("url") if request else None, created_at),
    }


PAGE_RECORD_FIELDS = (
    "url",
    "outcome",
    "reason",
    "error",
    "http_status",
    "depth",
    "attempts",
    "final_url",
    "content_type",
    "title",
    "language",
    "description",
    "markdown",
    "content_hash",
    "page_count",
    "etag",
    "last_modified",
    "body_hash",
    "links",
    "change",
    "rendered",
)


def page_record(
    job_id: str,
    tenant: str,
    key: OrderingKey,
    recorded_at: datetime,
    fields: dict[str, Any],
) -> PageRecord:
    """A URL's record in the ledger; ``fields`` are those of its ``PageRecorded`` event
    (``url``, ``outcome``, ``reason``, …; others are ignored)."""
    return {
        "_id": page_id(job_id, fields["url"]),
        "job_id": job_id,
        "tenant": tenant,
        "order": key.number,
        **{name: fields.get(name) for name in PAGE_RECORD_FIELDS},
        "recorded_at": recorded_at,
    }


def log_line(
    job_id: str, tenant: str, key: OrderingKey, *, level: str, message: str, at: datetime
) -> LogLine:
    return {
        "_id": log_id(job_id, key),
        "job_id": job_id,
        "tenant": tenant,
        "order": key.number,
        "level": level,
        "message": message,
        "at": at,
    }


def assistant_run(
    run_id: str,
    *,
    assistant_id: str,
    tenant: str,
    created_by: str,
    created_at: datetime,
    jobs: list[tuple[str, str]],
    schedule_id: str | None = None,
) -> dict[str, Any]:
    """A run of an assistant's crawl: ``jobs`` are (start URL, job id) pairs."""
    return {
        "_id": run_id,
        "assistant_id": assistant_id,
        "tenant": tenant,
        "created_by": created_by,
        "created_at": created_at,
        "jobs": [{"url": url, "job_id": job_id} for url, job_id in jobs],
        "schedule_id": schedule_id,
    }
