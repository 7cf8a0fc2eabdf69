"""Re-crawls at the edge: ``since`` checked before a job is accepted, and its changes served.

A request naming ``since`` must name a finished job of the caller's tenant with the same
start URL (both normalised as the ledger keys them, ``crawl_schema.urls``): anything else is
a ``422`` naming ``since``, before the job exists. The crawler checks again (commands may
come from the broker) and fails such a job with ``invalid_since``.

``GET /api/v1/crawls/{job_id}/changes`` lists the re-crawl's pages against the earlier job's
(``crawl_api.changelist``) a page at a time, optionally one ``kind`` only.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from pydantic import BaseModel, Field

from crawl_api.auth import Principal
from crawl_api.changelist import ChangeReader
from crawl_api.errors import BadRequest, NotFound, Unprocessable
from crawl_api.jobviews import JobViews
from crawl_api.problems import AUTHENTICATED, problems
from crawl_api.reads import encode_cursor
from crawl_api.results import job_cursor
from crawl_api.store import JobStore
from crawl_contracts import TERMINAL_STATUSES, CrawlRequest, JobStatus, StopReason
from crawl_schema.urls import normalize_url

__all__ = ["ChangeList", "ChangesController", "check_since"]

ChangeKindParam = Literal["added", "changed", "removed", "unchanged", "not_visited"]
_FINISHED = {s.value for s in TERMINAL_STATUSES}
_KEY = re.compile(r"[0-9a-f]{1,64}")  # the URL hash part of a page key


async def check_since(store: JobStore, principal: Principal, request: CrawlRequest) -> None:
    """Refuse (``422``) a ``since`` that names no finished job of the tenant with this start
    URL; nothing to check without one."""
    if request.since is None:
        return
    earlier = await store.get(request.since, principal.tenant)
    if earlier is None:
        raise Unprocessable(f"since: no job {request.since} of this tenant", parameter="since")
    earlier_url = (earlier.get("request") or {}).get("url") or ""
    if _normal(earlier_url) != _normal(request.url):
        raise Unprocessable(
            f"since: job {request.since} crawled {earlier_url}, not {request.url}",
            parameter="since",
        )
    if earlier.get("status") not in _FINISHED:
        raise Unprocessable(
            f"since: job {request.since} is {earlier.get('status')}; "
            "a re-crawl compares with a finished job",
            parameter="since",
        )


def _normal(url: str) -> str | None:
    try:
        return normalize_url(url)
    except ValueError:
        return None


class ChangeItem(BaseModel):
    url: str | None
    change: str = Field(description="added, changed, removed, unchanged or not_visited")
    title: str | None
    content_hash: str | None = Field(description="The text's hash in this job (null if none)")
    previous_content_hash: str | None = Field(description="In the earlier job (null if none)")


class ChangeList(BaseModel):
    since: str = Field(description="The earlier job this one is compared with")
    complete: bool = Field(
        description=(
            "The re-crawl visited everything it could reach: the earlier job's pages it has "
            "no content for are `removed` (before that, or if it stopped short, `not_visited`)"
        )
    )
    counts: dict[str, int] = Field(description="added, changed, removed, unchanged so far")
    items: list[ChangeItem]
    next_cursor: str | None = Field(
        description=(
            "Pass as ?cursor= for the next page; null at the end. A page reads a bounded "
            "stretch of both jobs' records, so it may hold fewer items than `limit`, or none"
        )
    )


def _change_cursor(cursor: str, job_id: str) -> str:
    after = job_cursor(cursor, job_id)
    if not isinstance(after, str) or not _KEY.fullmatch(after):
        raise BadRequest("the cursor is not one this API handed out", parameter="cursor")
    return after


class ChangesController(Controller):
    path = "/api/v1/crawls/{job_id:str}"
    tags = ["results"]

    @get(
        "/changes",
        summary="A re-crawl's changes against its earlier job",
        description=(
            "Every URL with content in either job appears once across the pages: `added`, "
            "`changed` (its text differs), `unchanged`, and `removed` (or `not_visited` "
            "while the re-crawl runs or when it stopped short). `kind` keeps one of these. "
            "Only for a job submitted with `since`."
        ),
        responses=problems(400, *AUTHENTICATED, 404, 422),
    )
    async def changes(
        self,
        *,
        job_id: FromPath[str],
        principal: NamedDependency[Principal],
        views: NamedDependency[JobViews],
        change_reader: NamedDependency[ChangeReader],
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        kind: FromQuery[ChangeKindParam | None] = None,
    ) -> ChangeList:
        doc = await views.get(job_id, principal)
        since = (doc.get("request") or {}).get("since")
        if not since:
            raise NotFound(f"crawl {job_id} is not a re-crawl: it names no earlier job (since)")
        try:  # the earlier job must be the caller's too (a command from the broker may not be)
            await views.get(since, principal)
        except NotFound:
            raise NotFound(
                f"crawl {job_id} names an earlier job {since} there is no access to"
            ) from None
        complete = (
            doc.get("status") == JobStatus.COMPLETED.value
            and doc.get("stop_reason") == StopReason.EXHAUSTED.value
        )
        after = _change_cursor(cursor, job_id) if cursor is not None else None
        page = await change_reader.page(
            job_id,
            since,
            after=after,
            gone="removed" if complete else "not_visited",
            kinds=frozenset({kind}) if kind else None,
            limit=limit,
        )
        counters: dict[str, Any] = doc.get("counters") or {}
        counts = {k: int(counters.get(k, 0)) for k in ("added", "changed", "removed", "unchanged")}
        return ChangeList(
            since=since,
            complete=complete,
            counts=counts,
            items=[ChangeItem(**item) for item in page.items],
            next_cursor=(
                encode_cursor(job_id, page.next_cursor) if page.next_cursor is not None else None
            ),
        )
