"""A re-crawl's changes against its earlier job (``CrawlRequest.since``), a page at a time.

Both jobs' page records are keyed by the URL's hash (``crawl_schema.keys.page_id``), so read
in key order (``crawl_schema.queries.job_pages_by_key``) the two ledgers line up URL by URL
and their changes are a merge of the two: a URL with content (``fetched`` or ``unchanged``)
in the re-crawl only is ``added``; in both, ``unchanged`` or ``changed`` (the re-crawl's own
verdict, made against the same record); in the earlier job only, ``removed`` once the re-crawl
has visited everything it could reach (``completed``, ``exhausted``), and ``not_visited``
before that or when it stopped short. Every URL with content in either job appears once.

A page of changes reads at most ``scan`` records of each job from the cursor on (records
without content, such as off-site links, take part in the scan), so its cost is what the
request asks for, whatever either job holds; a page may therefore carry fewer than ``limit``
items, even none, and still have a next cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from crawl_schema import CONTENT_OUTCOMES
from crawl_schema.queries import job_pages_by_key

__all__ = ["CHANGE_KINDS", "ChangePage", "ChangeReader", "merge"]

CHANGE_KINDS = ("added", "changed", "removed", "unchanged", "not_visited")
ChangeKind = Literal["added", "changed", "removed", "unchanged", "not_visited"]
_FIELDS = {"url": 1, "outcome": 1, "change": 1, "content_hash": 1, "title": 1}


@dataclass(frozen=True, slots=True)
class ChangePage:
    items: list[dict[str, Any]]
    next_cursor: str | None  # the URL hash the next page continues after; None at the end


def _key(record: dict[str, Any]) -> str:
    return str(record["_id"]).split(":", 1)[1]


def _content(record: dict[str, Any] | None) -> bool:
    return record is not None and record.get("outcome") in CONTENT_OUTCOMES


def merge(
    new: list[dict[str, Any]],
    earlier: list[dict[str, Any]],
    *,
    new_exhausted: bool,
    earlier_exhausted: bool,
    gone: Literal["removed", "not_visited"],
    kinds: frozenset[str] | None = None,
    limit: int,
) -> ChangePage:
    """The changes in two runs of records read from the same cursor in key order.

    ``*_exhausted`` says a read returned fewer records than it asked for (nothing lies
    beyond); otherwise only keys up to its last record are known, and the page ends there.
    """
    sides = ((new, new_exhausted), (earlier, earlier_exhausted))
    bounds = [_key(side[-1]) for side, exhausted in sides if side and not exhausted]
    bound = min(bounds) if bounds else None  # keys past it are not read on every side yet
    by_key: dict[str, list[dict[str, Any] | None]] = {}
    for record in new:
        by_key.setdefault(_key(record), [None, None])[0] = record
    for record in earlier:
        by_key.setdefault(_key(record), [None, None])[1] = record
    items: list[dict[str, Any]] = []
    last: str | None = None
    for key in sorted(by_key):
        if bound is not None and key > bound:
            break
        last = key
        now, before = (r if _content(r) else None for r in by_key[key])
        change = _change(now, before, gone)
        if change is not None and (kinds is None or change in kinds):
            shown = now or before or {}
            items.append(
                {
                    "url": shown.get("url"),
                    "change": change,
                    "title": shown.get("title"),
                    "content_hash": now.get("content_hash") if now else None,
                    "previous_content_hash": before.get("content_hash") if before else None,
                }
            )
            if len(items) >= limit:
                break
    if bound is None and (last is None or last == max(by_key, default=None)):
        return ChangePage(items, None)  # both sides read to their ends
    return ChangePage(items, last if last is not None else bound)


def _change(
    now: dict[str, Any] | None, before: dict[str, Any] | None, gone: ChangeKind
) -> ChangeKind | None:
    """The change of one URL, given its records with content (``None``: none in that run)."""
    if now is None:
        return gone if before is not None else None  # no content in either: not a page
    if before is None:
        return "added"
    if now.get("outcome") == "unchanged":
        return "unchanged"
    return "unchanged" if now.get("content_hash") == before.get("content_hash") else "changed"


class ChangeReader:
    """Reads the two jobs' records for :func:`merge`."""

    def __init__(self, pages: Any, *, scan: int = 1000) -> None:
        self._pages = pages
        self._scan = scan

    async def page(
        self,
        job_id: str,
        since: str,
        *,
        after: str | None,
        gone: Literal["removed", "not_visited"],
        kinds: frozenset[str] | None,
        limit: int,
    ) -> ChangePage:
        new = await self._read(job_id, after)
        earlier = await self._read(since, after)
        return merge(
            new,
            earlier,
            new_exhausted=len(new) < self._scan,
            earlier_exhausted=len(earlier) < self._scan,
            gone=gone,
            kinds=kinds,
            limit=limit,
        )

    async def _read(self, job_id: str, after: str | None) -> list[dict[str, Any]]:
        query = job_pages_by_key(job_id, after=after)
        cursor = self._pages.find(query.filter, _FIELDS).sort(query.sort).limit(self._scan)
        return [doc async for doc in cursor]
