"""The crawler's own documents: job leases and the pieces of a crawl's durable state.

``crawler_leases`` (``_id`` = job id): ``owner`` and ``attempt`` hold the job until
``lease_until``; ``deadline_at`` (the time limit, fixed by the first claim);
``cancel_requested``; ``finished`` once a terminal event went out; ``pieces``, per attempt
(as a string), how many pieces of durable state that attempt committed; ``released_at`` and
``released_by`` once a stopping worker handed its attempt back (the lease then names the next
attempt, with neither ``owner`` nor ``lease_until``: claimable at once, by that attempt or a
later one only). A piece counts once the lease names it: a piece written by an attempt that
lost its lease is never read.

``crawler_state`` (``_id`` = ``<job>:<attempt>:<number>``, :func:`state_pieces`): what one
attempt learned between two commits, never more than :data:`PIECE_BYTES` per document:

- ``urls`` / ``depths``: URLs queued into the frontier, in order (breadth-first);
- ``seen``: hashes (:func:`crawl_schema.keys.url_hash`) of URLs known without being queued
  (skipped at discovery, redirect targets);
- ``done``: hashes of queued URLs whose outcome is in the ledger (their event confirmed);
- ``hashes``: content hashes of recorded pages (duplicate detection);
- ``skips``: URLs counted as skipped whose record had not reached the ledger when the commit
  was cut (a resumed attempt sends them); those of the last commit are the ones that count;
- in the last piece of a commit only: ``counters``, as a resumed attempt starts from them.

A resumed attempt reads every committed piece in order: the frontier is the queued URLs not
done, the seen-set every URL named. Each write is one piece: its cost does not grow with the
crawl.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crawl_schema.keys import state_chunk_id

__all__ = ["PIECE_BYTES", "StateDelta", "state_pieces"]

PIECE_BYTES = 256 * 1024
"""The largest piece of durable state written at once (BSON bytes)."""
_BUDGET = PIECE_BYTES - 16 * 1024  # margin for the fixed fields, counters and skips
# Upper bounds of one array element's BSON size besides its value: type byte, the index as
# a key (at most 7 digits and a NUL here), and a string's length prefix and NUL.
_ELEMENT = 1 + 8
_STRING = _ELEMENT + 5
_LONG = _ELEMENT + 8
_INT = _ELEMENT + 4


@dataclass(slots=True)
class StateDelta:
    """What an attempt learned since its last commit (see the module doc)."""

    urls: list[str] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    skips: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.urls or self.seen or self.done or self.hashes)


def state_pieces(
    job_id: str, attempt: int, first: int, delta: StateDelta, at: datetime
) -> list[dict[str, Any]]:
    """``delta`` as pieces numbered from ``first``, each at most :data:`PIECE_BYTES`; the
    last one carries the counters."""
    pieces: list[dict[str, Any]] = []
    current = _empty(job_id, attempt, first, at)
    size = 0

    def room(cost: int) -> dict[str, Any]:
        nonlocal current, size
        if size + cost > _BUDGET and size:
            pieces.append(current)
            current = _empty(job_id, attempt, first + len(pieces), at)
            size = 0
        size += cost
        return current

    for url, depth in zip(delta.urls, delta.depths, strict=True):
        piece = room(_STRING + len(url.encode()) + _INT)
        piece["urls"].append(url)
        piece["depths"].append(depth)
    for value in delta.seen:
        room(_LONG)["seen"].append(value)
    for value in delta.done:
        room(_LONG)["done"].append(value)
    for content_hash in delta.hashes:
        room(_STRING + len(content_hash.encode()))["hashes"].append(content_hash)
    for skip in delta.skips:
        cost = 64 + len(str(skip.get("url", "")).encode()) + len(str(skip.get("reason", "")))
        room(cost)["skips"].append(skip)
    current["counters"] = dict(delta.counters)
    pieces.append(current)
    return pieces


def _empty(job_id: str, attempt: int, number: int, at: datetime) -> dict[str, Any]:
    return {
        "_id": state_chunk_id(job_id, attempt, number),
        "job_id": job_id,
        "attempt": attempt,
        "number": number,
        "at": at,
        "urls": [],
        "depths": [],
        "seen": [],
        "done": [],
        "hashes": [],
        "skips": [],
    }
