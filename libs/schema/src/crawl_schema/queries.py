"""The reads of the crawl database, as filters and sorts that an index answers.

Each query here is answered from one index of :mod:`crawl_schema.indexes` (or from the
``_id`` index), on MongoDB as on the embedded FerretDB build: its cost grows with the
documents it returns, never with what else is stored. Two rules keep it so on the FerretDB
build, whose SQLite backend pushes a filter, a sort and the iteration's end down to SQLite
only under these conditions (``deploy/ferretdb/patches``):

- every field of a filter is either in the index or left out: conditions are equalities,
  ranges and ``$in`` on scalars (strings, integers, dates); no ``$or``, no regular
  expression;
- every sort key is bounded by a condition of one type in the same filter (``order`` by an
  integer bound, ``list_key`` by string bounds), which tells the server that the values it
  sorts are all of that type.

A query builder returns a :class:`Query`; ``collection.find(q.filter).sort(q.sort)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from crawl_contracts import JobStatus
from crawl_schema.keys import (
    LIST_KEY_TOP,
    job_range,
    list_key_bound,
    log_id_after,
)
from crawl_schema.schedules import fire_range

__all__ = [
    "ID_PREFIX_CHARACTERS",
    "UNFINISHED",
    "WATCHED",
    "Query",
    "assistant_runs",
    "due_deliveries",
    "due_timers",
    "expired_jobs",
    "job_deliveries",
    "job_id_prefix",
    "job_list",
    "job_logs",
    "job_pages",
    "job_pages_by_key",
    "schedule_fires",
    "silent_jobs",
    "tenant_schedules",
    "tenant_unfinished",
]

WATCHED = (JobStatus.RUNNING.value, JobStatus.CANCELLING.value, JobStatus.STALLED.value)
"""The statuses of jobs a crawler should be speaking for (heartbeats)."""
UNFINISHED = (JobStatus.PENDING.value, *WATCHED)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_ORDER = -1  # below every ordering number
_MILLISECOND = timedelta(milliseconds=1)

ID_PREFIX_CHARACTERS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._~-"
)
"""The characters an id prefix may hold: those of job ids (UUIDs, and ids other producers
choose from :mod:`crawl_schema.keys`' alphabet), whose ``_id`` ranges the embedded server
answers from the ``_id`` index (and so does the range's end, the prefix with its last
character raised by one)."""


class Query(NamedTuple):
    filter: dict[str, Any]
    sort: list[tuple[str, int]]


def job_pages(job_id: str, *, after: int | None = None, outcome: str | None = None) -> Query:
    """A job's pages in the order they were recorded, after ordering number ``after``
    (index ``job_id, order``, or ``job_id, outcome, order`` with ``outcome``)."""
    query: dict[str, Any] = {"job_id": job_id}
    if outcome is not None:
        query["outcome"] = outcome
    query["order"] = {"$gt": _NO_ORDER if after is None else after}
    return Query(query, [("order", 1)])


def job_pages_by_key(job_id: str, *, after: str | None = None) -> Query:
    """A job's pages in the order of their keys (the URL's hash, ``keys.page_id``), after the
    hash ``after``: two jobs' records of one URL stand at the same place in each, so a
    re-crawl's changes are a merge of its pages and the earlier job's (``_id`` index)."""
    bounds = job_range(job_id)
    if after is not None:
        bounds = {"$gt": f"{job_id}:{after}", "$lt": bounds["$lt"]}
    return Query({"_id": bounds}, [("_id", 1)])


def job_logs(job_id: str, *, after: int | None = None, newest_first: bool = False) -> Query:
    """A job's log lines in producer order (their ``_id``), after ordering number ``after``."""
    bounds = job_range(job_id)
    if after is not None:
        bounds = {"$gt": log_id_after(job_id, after), "$lt": bounds["$lt"]}
    return Query({"_id": bounds}, [("_id", -1 if newest_first else 1)])


def job_id_prefix(prefix: str) -> Query:
    """Jobs whose id starts with ``prefix``, in id order: the ``_id`` range from ``prefix``
    up to ``prefix`` with its last character raised by one (``6371`` -> ``6372``).

    No tenant condition: the caller checks the tenant of the few documents the range holds.
    Beside a tenant equality, the embedded server's SQLite (without statistics) reads the
    tenant's index, i.e. every job of the tenant, rather than the ``_id`` range; the range
    alone holds every tenant's jobs with that prefix, about ``stored / 16 ** len(prefix)``
    for random UUIDs (15 of a million jobs for 4 characters). Raises ``ValueError`` for an
    empty prefix or one with characters outside :data:`ID_PREFIX_CHARACTERS` (a range
    bounded by those is not answered from the index there)."""
    if not prefix or not ID_PREFIX_CHARACTERS.issuperset(prefix):
        raise ValueError(f"not an id prefix: {prefix!r}")
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Query({"_id": {"$gte": prefix, "$lt": end}}, [("_id", 1)])


def job_list(
    tenant: str,
    *,
    statuses: tuple[str, ...] = (),
    host: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    before: str | None = None,
) -> Query:
    """A tenant's jobs, newest first (``list_key`` descending), created in
    ``[created_after, created_before)`` and listed after the list key ``before`` (a cursor):
    index ``tenant, list_key``, ``tenant, status, list_key`` or ``tenant, host, list_key``."""
    query: dict[str, Any] = {"tenant": tenant}
    if len(statuses) == 1:
        query["status"] = statuses[0]
    elif statuses:
        query["status"] = {"$in": list(statuses)}
    if host is not None:
        query["host"] = host.rstrip(".").lower()
    upper = LIST_KEY_TOP
    if created_before is not None:
        upper = min(upper, list_key_bound(created_before))
    if before is not None:
        upper = min(upper, before)
    bounds: dict[str, str] = {"$lt": upper}
    if created_after is not None:
        bounds["$gte"] = list_key_bound(created_after)
    query["list_key"] = bounds
    return Query(query, [("list_key", -1)])


def tenant_unfinished(tenant: str) -> dict[str, Any]:
    """A tenant's jobs that have not finished (index ``tenant, status, list_key``)."""
    return {"tenant": tenant, "status": {"$in": list(UNFINISHED)}}


def silent_jobs(before: datetime) -> dict[str, Any]:
    """Jobs a crawler should speak for whose last word is older than ``before`` (index
    ``status, last_activity_at``)."""
    return {"status": {"$in": list(WATCHED)}, "last_activity_at": {"$lt": before}}


def expired_jobs(now: datetime) -> Query:
    """Finished jobs past their retention, oldest first (index ``expires_at``)."""
    return Query({"expires_at": {"$gte": _EPOCH, "$lt": now}}, [("expires_at", 1)])


def job_deliveries(job_id: str) -> Query:
    """A job's webhook deliveries in the order they were made (index ``job_id,
    created_at``)."""
    return Query({"job_id": job_id, "created_at": {"$gte": _EPOCH}}, [("created_at", 1)])


def due_deliveries(now: datetime) -> Query:
    """Webhook deliveries due for an attempt, the longest waiting first (index ``state,
    next_attempt_at``)."""
    return Query({"state": "pending", "next_attempt_at": {"$lte": now}}, [("next_attempt_at", 1)])


def assistant_runs(tenant: str, assistant_id: str) -> Query:
    """An assistant's runs (seed routes), newest first (index ``tenant, assistant_id,
    created_at``)."""
    return Query(
        {"tenant": tenant, "assistant_id": assistant_id, "created_at": {"$gte": _EPOCH}},
        [("created_at", -1)],
    )


def tenant_schedules(tenant: str, *, before: str | None = None) -> Query:
    """A tenant's schedules, newest first, listed after the list key ``before`` (a cursor):
    index ``tenant, list_key``."""
    return Query(
        {"tenant": tenant, "list_key": {"$lt": before or LIST_KEY_TOP}}, [("list_key", -1)]
    )


def due_timers(now: datetime) -> Query:
    """Schedule timers due at ``now``, the earliest first: one ``_id`` range (a timer's
    ``_id`` starts with its due time, ``crawl_schema.schedules.timer_id``)."""
    upper = f"{(now - _EPOCH) // _MILLISECOND + 1:013d}:"
    return Query({"_id": {"$gte": "0", "$lt": upper}}, [("_id", 1)])


def schedule_fires(schedule_id: str, *, before: datetime | None = None) -> Query:
    """A schedule's fires, newest first (of ticks before ``before``): one ``_id`` range."""
    return Query({"_id": fire_range(schedule_id, before=before)}, [("_id", -1)])
