"""The earlier job a re-crawl is compared with (``CrawlRequest.since``).

A re-crawl asks each URL's earlier record when it visits the URL: one read by ``_id`` (the
record's key is the earlier job's id and the URL's hash, ``crawl_schema.keys.page_id``), so
its cost per page is the same whatever either job holds, and nothing of the earlier job is
kept in memory. Only records with content count (``fetched``, ``unchanged``): their
validators make the request conditional, their body and text hashes tell an unchanged page,
and their links and extracted fields stand in for a page not read again.

The earlier job must be finished, of the same tenant, with the same start URL (after
normalisation); :meth:`MongoBaseline.open` says which of these fails (``BaselineError``), and
the crawl then fails with ``invalid_since`` rather than compare against something else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from crawl_contracts import TERMINAL_STATUSES
from crawl_schema import CONTENT_OUTCOMES
from crawl_schema.keys import page_id
from crawl_schema.names import CRAWLS, PAGES
from crawl_schema.urls import normalize_url
from crawl_worker.extracted import Extracted
from crawl_worker.fetch import Validators

__all__ = [
    "Baseline",
    "BaselineError",
    "Baselines",
    "EarlierPage",
    "MongoBaseline",
    "MongoBaselines",
]

_PAGE_FIELDS = {
    "outcome": 1,
    "etag": 1,
    "last_modified": 1,
    "body_hash": 1,
    "content_hash": 1,
    "title": 1,
    "language": 1,
    "description": 1,
    "markdown": 1,
    "page_count": 1,
    "links": 1,
    "content_type": 1,
}


class BaselineError(Exception):
    """The earlier job cannot be compared with: missing, another tenant's or start URL's, or
    still running."""


@dataclass(frozen=True, slots=True)
class EarlierPage:
    """What the earlier job recorded of a URL it had content for."""

    validators: Validators
    body_hash: str | None
    content_type: str | None
    extracted: Extracted  # its text and fields, and its links (``links``), as recorded

    @classmethod
    def of_record(cls, record: dict[str, Any]) -> EarlierPage:
        """The page as a record holds it. A record without its links (too many to keep, or
        from before records kept them) offers no shortcut: an unchanged answer could not be
        followed on, so the page is read again (its text still tells changed from not)."""
        shortcut = record.get("links") is not None
        return cls(
            validators=(
                Validators(record.get("etag"), record.get("last_modified"))
                if shortcut
                else Validators()
            ),
            body_hash=record.get("body_hash") if shortcut else None,
            content_type=record.get("content_type"),
            extracted=Extracted(
                title=record.get("title"),
                markdown=record.get("markdown") or "",
                language=record.get("language"),
                description=record.get("description"),
                content_hash=record.get("content_hash"),
                links=list(record.get("links") or ()),
                page_count=record.get("page_count"),
            ),
        )


class Baseline(Protocol):
    """The earlier job, as a re-crawl's engine reads it."""

    @property
    def job_id(self) -> str: ...

    @property
    def pages(self) -> int:
        """The earlier job's pages with content (``fetched`` + ``unchanged``)."""

    async def page(self, url: str) -> EarlierPage | None:
        """The earlier record of ``url`` if it had content, else ``None``."""


class Baselines(Protocol):
    """Where a re-crawl finds its earlier job."""

    async def open(self, job_id: str, *, tenant: str, start_url: str) -> Baseline:
        """The earlier job ``job_id``; ``BaselineError`` if it cannot be compared with."""


class MongoBaselines:
    """:class:`Baselines` in the database the status service writes."""

    def __init__(self, db: Any) -> None:
        self._db = db

    async def open(self, job_id: str, *, tenant: str, start_url: str) -> Baseline:
        return await MongoBaseline.open(self._db, job_id, tenant=tenant, start_url=start_url)


class MongoBaseline:
    """:class:`Baseline` over the page records the status service wrote."""

    def __init__(self, pages: Any, job_id: str, content_pages: int) -> None:
        self._pages = pages
        self._job_id = job_id
        self._content_pages = content_pages

    @classmethod
    async def open(cls, db: Any, job_id: str, *, tenant: str, start_url: str) -> MongoBaseline:
        """Check the earlier job against the re-crawl's tenant and start URL."""
        job = await db[CRAWLS].find_one(
            {"_id": job_id}, {"tenant": 1, "request": 1, "status": 1, "counters": 1}
        )
        if job is None or job.get("tenant") != tenant:
            raise BaselineError(f"no earlier job {job_id} of this tenant")
        earlier_url = (job.get("request") or {}).get("url") or ""
        try:
            same = normalize_url(earlier_url) == normalize_url(start_url)
        except ValueError:
            same = False
        if not same:
            raise BaselineError(f"job {job_id} crawled {earlier_url}, not {start_url}")
        if job.get("status") not in {s.value for s in TERMINAL_STATUSES}:
            raise BaselineError(f"job {job_id} is {job.get('status')}, not finished")
        counters = job.get("counters") or {}
        content = int(counters.get("fetched", 0)) + int(counters.get("unchanged", 0))
        return cls(db[PAGES], job_id, content)

    @property
    def job_id(self) -> str:
        return self._job_id

    @property
    def pages(self) -> int:
        return self._content_pages

    async def page(self, url: str) -> EarlierPage | None:
        record = await self._pages.find_one({"_id": page_id(self._job_id, url)}, _PAGE_FIELDS)
        if record is None or record.get("outcome") not in CONTENT_OUTCOMES:
            return None
        return EarlierPage.of_record(record)
