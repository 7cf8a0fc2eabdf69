"""The projection as a pure reducer: ``reduce_job(document, message) -> document``.

Every field is combined by an operation that is commutative, associative and idempotent
(max by ordering key, min/max of timestamps, logical or), so any shuffle or duplication of one
job's messages yields the same document. The store (``store.py``) only loads, reduces and
writes back; it never decides anything.

Rules:
- ``status``: a terminal event wins (the latest by ordering key if, abnormally, several exist);
  else ``cancelling`` once a cancel was requested; else ``running`` once started; else
  ``pending``. Terminal states are therefore absorbing whatever the arrival order.
  Then ``stalled`` while the latest stalled attempt is not older than the latest started one
  (a resumed attempt that starts makes the job ``running`` again). A hand-back
  (``CrawlReleased``) changes no status: the job stays ``running`` while the next attempt is
  claimed.
- ``counters``: those of the message with the highest ordering key that carries counters.
  Producers emit cumulative counters, so the latest is the truth.
- ``attempt``: the highest attempt any message names (a resume request names the next one).
- ``released_attempts``: the attempts their worker handed back (a set, kept sorted): the stall
  detector does not count them against the job's attempts.
- ``expires_at``: ``finished_at`` plus the retention period, when one is given.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from crawl_contracts import (
    CrawlCancelled,
    CrawlCancelRequested,
    CrawlCompleted,
    CrawlFailed,
    CrawlHeartbeat,
    CrawlLogged,
    CrawlProgressed,
    CrawlReleased,
    CrawlRequested,
    CrawlResumeRequested,
    CrawlStalled,
    CrawlStarted,
    JobStatus,
    Message,
    PageRecorded,
)
from crawl_schema import (
    JOB_DEFAULTS,
    PAGE_RECORD_FIELDS,
    JobDocument,
    empty_counters,
    job_list_fields,
    log_line,
    new_job_document,
    page_record,
)

__all__ = [
    "JobDocument",
    "lifecycle_log",
    "log_document",
    "normalized",
    "page_document",
    "reduce_job",
    "touches_job",
]

_RECORDED = set(PAGE_RECORD_FIELDS)  # what a page record keeps of its event
_TERMINAL_STATUS = {
    "CrawlCompleted": JobStatus.COMPLETED,
    "CrawlFailed": JobStatus.FAILED,
    "CrawlCancelled": JobStatus.CANCELLED,
}
# Tie-break between terminal events with the same ordering key (should never happen).
_TERMINAL_RANK = {"CrawlCompleted": 0, "CrawlFailed": 1, "CrawlCancelled": 2}


def touches_job(message: Message) -> bool:
    """Whether a message changes the job document (pages and logs live elsewhere)."""
    return not isinstance(message, PageRecorded | CrawlLogged)


def _key(message: Message) -> list[int]:
    return list(message.ordering_key)


def _min_time(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _max_time(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _status(doc: JobDocument) -> str:
    if doc["terminal"] is not None:
        return str(doc["terminal"]["status"])
    if doc["cancel_requested_at"] is not None:
        return JobStatus.CANCELLING.value
    stalled, started = doc["stalled_attempt"], doc["started_key"]
    if stalled is not None and (started is None or started[0] <= stalled):
        return JobStatus.STALLED.value
    if started is not None:
        return JobStatus.RUNNING.value
    return JobStatus.PENDING.value


def _later(new_key: list[int], old_key: list[int] | None) -> bool:
    return old_key is None or new_key > old_key


def _apply_terminal(
    doc: JobDocument, message: CrawlCompleted | CrawlFailed | CrawlCancelled
) -> None:
    candidate = {
        "key": _key(message),
        "rank": _TERMINAL_RANK[message.type],
        "status": _TERMINAL_STATUS[message.type].value,
        "occurred_at": message.occurred_at,
        "stop_reason": message.stop_reason.value,
        "error": (
            {"code": message.error_code, "message": message.error}
            if isinstance(message, CrawlFailed)
            else None
        ),
    }
    current = doc["terminal"]
    if current is None or (candidate["key"], candidate["rank"]) > (
        current["key"],
        current["rank"],
    ):
        doc["terminal"] = candidate


def reduce_job(
    document: JobDocument | None, message: Message, *, retention: timedelta | None = None
) -> JobDocument:
    """Fold one message into a job document; returns a new document, never mutates its input.

    ``retention`` sets ``expires_at`` of a finished job (pass the same value for every message
    of a job)."""
    doc = (
        new_job_document(message.job_id, message.tenant)
        if document is None
        else normalized(document)
    )
    key = _key(message)
    doc["last_activity_at"] = _max_time(doc["last_activity_at"], message.occurred_at)
    doc["attempt"] = max(doc["attempt"], message.attempt)

    match message:
        case CrawlRequested():
            doc["request"] = message.request.model_dump(mode="json")
            doc["submitted_by"] = message.submitted_by
            doc["created_at"] = _min_time(doc["created_at"], message.occurred_at)
        case CrawlCancelRequested():
            doc["cancel_requested_at"] = _min_time(doc["cancel_requested_at"], message.occurred_at)
        case CrawlStarted():
            doc["started_at"] = _min_time(doc["started_at"], message.occurred_at)
            if _later(key, doc["started_key"]):
                doc["started_key"] = key
                doc["worker_id"] = message.worker_id
        case CrawlStalled():
            doc["stalled_attempt"] = max(doc["stalled_attempt"] or 0, message.attempt)
        case (
            CrawlProgressed()
            | CrawlReleased()
            | CrawlCompleted()
            | CrawlFailed()
            | CrawlCancelled()
        ):
            if _later(key, doc["counters_key"]):
                doc["counters_key"] = key
                doc["counters"] = message.counters.model_dump()
            if isinstance(message, CrawlReleased):  # the job goes on: no status of its own
                released = {*(doc["released_attempts"] or ()), message.attempt}
                doc["released_attempts"] = sorted(released)
            elif not isinstance(message, CrawlProgressed):
                _apply_terminal(doc, message)
        case CrawlResumeRequested() | CrawlHeartbeat() | PageRecorded() | CrawlLogged():
            pass

    terminal = doc["terminal"]
    doc["finished_at"] = terminal["occurred_at"] if terminal else None
    doc["stop_reason"] = terminal["stop_reason"] if terminal else None
    doc["error"] = terminal["error"] if terminal else None
    doc["expires_at"] = (
        terminal["occurred_at"] + retention if terminal and retention is not None else None
    )
    doc["status"] = _status(doc)
    request = doc["request"]
    doc.update(
        job_list_fields(doc["_id"], request.get("url") if request else None, doc["created_at"])
    )
    return doc


def normalized(document: JobDocument) -> JobDocument:
    """A copy of ``document`` with every field the reducer keeps (absent ones at their
    defaults)."""
    doc = {**JOB_DEFAULTS, **document}
    doc["counters"] = {**empty_counters(), **(document.get("counters") or {})}
    return doc


def page_document(message: PageRecorded) -> dict[str, Any]:
    """The ``crawl_pages`` record of one recorded URL."""
    return page_record(
        message.job_id,
        message.tenant,
        message.ordering_key,
        message.occurred_at,
        message.model_dump(mode="python", include=_RECORDED),
    )


def log_document(message: CrawlLogged) -> dict[str, Any]:
    """The ``crawl_logs`` document of one log line, keyed by the producer's ordering key."""
    return log_line(
        message.job_id,
        message.tenant,
        message.ordering_key,
        level=message.level,
        message=message.message,
        at=message.occurred_at,
    )


def lifecycle_log(message: Message) -> dict[str, Any] | None:
    """The log line a lifecycle event stands for, or None.

    Crawlers send no log message for what an event already says (a crawl started, finished,
    failed or was cancelled): the line is made here, keyed by the event's own ordering key,
    which no other log line or page has. One message fewer per event on the broker, and the
    line cannot go missing while the event arrives (or arrive without it)."""
    match message:
        case CrawlStarted():
            what = "started" if message.attempt == 1 else f"resumed (attempt {message.attempt})"
            level, text = "info", f"crawl {what} on worker {message.worker_id}"
        case CrawlCompleted():
            fetched = message.counters.fetched
            level = "info"
            text = f"crawl finished ({message.stop_reason.value}): {fetched} pages fetched"
        case CrawlFailed():
            level, text = "error", f"crawl failed ({message.error_code}): {message.error}"
        case CrawlCancelled():
            level, text = "info", f"crawl cancelled: {message.counters.fetched} pages fetched"
        case CrawlReleased():
            level = "info"
            text = (
                f"crawl handed back by worker {message.worker_id} ({message.reason}) after "
                f"{message.counters.fetched} pages fetched: resuming on another worker"
            )
        case _:
            return None
    return log_line(
        message.job_id,
        message.tenant,
        message.ordering_key,
        level=level,
        message=text[:1000],
        at=message.occurred_at,
    )
