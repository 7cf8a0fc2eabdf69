"""Short crawl ids, as ``docker`` and ``git`` show and accept them.

``crawlctl ls`` shows each id's first :data:`SHORT` characters (``63717066`` for the UUID
``63717066-0c5e-4f43-9b6e-2d6c1e1f0a9d``), more where two listed ids share them, so the table
fits an 80-column terminal and every id in it can be typed back. A command given an id takes
it whole or by any prefix of at least :data:`MIN_PREFIX` characters: the API lists the
caller's crawls whose id starts with it (``GET /api/v1/crawls?id_prefix=``), and
:func:`choose` picks the one crawl it names or says why there is none. Pure functions, so the
rules are unit-tested without an API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crawl_api.cli.client import (
    AmbiguousIdError,
    ApiClient,
    NoSuchCrawlError,
    RouteMissingError,
)

__all__ = [
    "MIN_PREFIX",
    "RESOLVE_LIMIT",
    "SHORT",
    "choose",
    "is_full_id",
    "is_prefix",
    "resolve",
    "short_ids",
]

SHORT = 8
"""Characters of an id ``ls`` shows: 8 hex digits, which another random UUID shares once in
about 4 billion."""
MIN_PREFIX = 4
"""The fewest characters a prefix may have (the API's minimum too)."""
RESOLVE_LIMIT = 10
"""Crawls asked for when resolving a prefix: two tell an ambiguous one, ten are listed."""

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PREFIX = re.compile(rf"^[0-9A-Za-z._~-]{{{MIN_PREFIX},64}}$")  # what ?id_prefix= accepts


def is_full_id(ref: str) -> bool:
    """A whole job id as the API makes them (a lowercase UUID): used as it is."""
    return _UUID.match(ref) is not None


def is_prefix(ref: str) -> bool:
    """Something the API can look up as the start of ids; anything else is taken as a whole
    id (an id of another shape, or one shorter than :data:`MIN_PREFIX`)."""
    return not is_full_id(ref) and _PREFIX.match(ref) is not None


def _common(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def short_ids(ids: Iterable[str], length: int = SHORT) -> dict[str, str]:
    """Each id cut to ``length`` characters, or to the fewest beyond that which no other of
    ``ids`` starts with (as ``git`` abbreviates). An id shorter than that stays whole."""
    ordered = sorted(set(ids))
    shown: dict[str, str] = {}
    for i, job_id in enumerate(ordered):
        # the longest prefix shared with any other id is shared with a neighbour in order
        shared = max(
            (_common(job_id, ordered[j]) for j in (i - 1, i + 1) if 0 <= j < len(ordered)),
            default=0,
        )
        shown[job_id] = job_id[: max(length, shared + 1)]
    return shown


def resolve(client: ApiClient, ref: str) -> str:
    """The whole id of the crawl ``ref`` names: ``ref`` itself when it is a whole id (or no
    prefix), else the one crawl the API lists for the prefix (see :func:`choose`). A server
    without the job list takes ``ref`` as a whole id."""
    if not is_prefix(ref):
        return ref
    try:
        found = client.crawls_by_prefix(ref, limit=RESOLVE_LIMIT)
    except RouteMissingError:
        return ref
    return choose(ref, found)


def _candidate(job: Mapping[str, Any], width: int = 79) -> str:
    """One line of an ambiguous id's candidates: the whole id, status and start URL, the URL
    cut so that the line fits ``width`` columns."""
    line = f"  {job.get('id')}  {job.get('status', '?'):<10}  "
    url = str(job.get("url") or "")
    room = max(width - len(line), 12)
    return line + (url if len(url) <= room else url[: room - 1] + "…")


def choose(ref: str, found: Sequence[Mapping[str, Any]], *, limit: int = RESOLVE_LIMIT) -> str:
    """The id of the one crawl ``ref`` names among ``found`` (the API's answer for the prefix
    ``ref``, at most ``limit`` crawls). A crawl whose id is ``ref`` itself wins; none is
    :class:`NoSuchCrawlError`, several :class:`AmbiguousIdError` listing them. A crawl listed
    that does not start with ``ref`` means a server that ignored ``id_prefix`` (one older
    than it): ``ref`` is then taken as a whole id."""
    ids = [str(job.get("id")) for job in found]
    if any(not i.startswith(ref) for i in ids):
        return ref
    if not ids:
        raise NoSuchCrawlError(f"no crawl matches {ref}")
    if ref in ids:
        return ref
    if len(ids) == 1:
        return ids[0]
    many = f"{len(ids)} or more" if len(ids) >= limit else str(len(ids))
    listing = "\n".join(_candidate(job) for job in found)
    raise AmbiguousIdError(f"{ref} matches {many} crawls; give more of its id:\n{listing}")
