"""Key layouts: every ``_id`` and sortable key the services build, in one place.

A job's children carry composite string ``_id``s that start with ``<job id>:``, so one job's
logs (or state pieces, stall marks, deliveries) are one ``_id`` range, ``<job id>:`` up to
``<job id>;`` (``;`` sorts right after ``:``). Numbers inside keys are zero-padded so that the
string order is the numeric order.

Keys use only characters from ``[0-9A-Za-z:._~-]`` around the caller's ids: the embedded
FerretDB build compares string ``_id``s by their JSON text, which orders like the strings
themselves only without spaces, ``!``, ``"``, backslashes or control characters (see
``deploy/ferretdb/patches``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from crawl_contracts import OrderingKey

__all__ = [
    "delivery_id",
    "idempotency_id",
    "job_range",
    "list_key",
    "list_key_bound",
    "log_id",
    "log_id_after",
    "page_id",
    "stall_mark_id",
    "state_chunk_id",
    "state_chunk_range",
    "url_hash",
    "url_host",
]

LIST_KEY_TOP = "~"  # above every list key (they start with digits)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def job_range(job_id: str) -> dict[str, str]:
    """The ``_id`` range of a job's children (``<job id>:...``)."""
    return {"$gte": f"{job_id}:", "$lt": f"{job_id};"}


def page_id(job_id: str, url: str) -> str:
    """A page record's ``_id``: one per URL of a job, so recording a URL again (a redelivered
    event, a resumed attempt) meets the same document."""
    return f"{job_id}:{hashlib.sha256(url.encode()).hexdigest()[:24]}"


def log_id(job_id: str, key: OrderingKey) -> str:
    """A log line's ``_id``: its producer's ordering key, so a job's lines are one ``_id``
    range in the order they were produced."""
    return f"{job_id}:{key.attempt:06d}:{key.seq:012d}"


def log_id_after(job_id: str, order: int) -> str:
    """The log ``_id`` of ordering number ``order`` (an exclusive lower bound)."""
    return log_id(job_id, OrderingKey.of_number(order))


def list_key(created_at: datetime, job_id: str) -> str:
    """A job's place in its tenant's history: creation time (milliseconds, 13 digits until
    the year 2286), then the id for ties. Newest first is this key descending."""
    return f"{list_key_bound(created_at)}{job_id}"


def list_key_bound(moment: datetime) -> str:
    """The list key just before every job created at ``moment`` or later."""
    # Integer arithmetic: ``timestamp() * 1000`` can land a hair below a whole millisecond.
    return f"{(moment - _EPOCH) // _MILLISECOND:013d}:"


def url_host(url: str) -> str | None:
    """The host of a start URL as the job list filters it: lowercase, no port."""
    host = urlsplit(url).hostname
    return host.rstrip(".").lower() if host else None


def stall_mark_id(job_id: str, attempt: int) -> str:
    return f"{job_id}:{attempt:06d}"


def delivery_id(job_id: str, message_id: str) -> str:
    return f"{job_id}:{message_id}"


def idempotency_id(tenant: str, key: str) -> str:
    return f"{tenant}:{key}"


def state_chunk_id(job_id: str, attempt: int, number: int) -> str:
    """The ``_id`` of piece ``number`` (from 0) of attempt ``attempt``'s durable state."""
    return f"{job_id}:{attempt:06d}:{number:08d}"


def state_chunk_range(job_id: str, attempt: int, count: int) -> dict[str, str]:
    """The ``_id`` range of the first ``count`` pieces of one attempt's durable state."""
    return {
        "$gte": state_chunk_id(job_id, attempt, 0),
        "$lt": state_chunk_id(job_id, attempt, count),
    }


def url_hash(url: str) -> int:
    """A URL as a signed 64-bit integer (BSON ``long``): how a crawl's seen-set is kept in
    memory and in its durable state. At a million URLs the chance that two collide is about
    three in a hundred million."""
    digest = hashlib.blake2b(url.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
