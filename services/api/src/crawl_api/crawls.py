"""``/api/v1/crawls``: submit a crawl, read its status (long-polling), list the history.

HTTP's own conventions carry the semantics: ``202`` + ``Location`` + ``Retry-After`` on
submission (RFC 9110), ``Idempotency-Key`` for safe retries, ``ETag`` / ``If-None-Match`` ->
``304`` for cheap polling, and ``Prefer: wait=N`` (RFC 7240) to hold a poll open until the job
changes. Pages, logs and events are in :mod:`crawl_api.results` and :mod:`crawl_api.events`.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Any, cast

from litestar import Controller, MediaType, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.types import Scope
from pydantic import BaseModel, ConfigDict, Field

from crawl_api.auth import Principal
from crawl_api.cancel import Canceller, CrawlCancelAccepted
from crawl_api.changes import ChangeFeed
from crawl_api.errors import BadRequest
from crawl_api.idprefix import ID_PREFIX_PATTERN, by_id_prefix
from crawl_api.jobviews import CrawlView, JobViews, job_view, matches
from crawl_api.ports import StatusRead, Submission
from crawl_api.problems import (
    AUTHENTICATED,
    HEADER_STRING,
    ProblemOperation,
    answer_headers,
    no_content,
    problems,
)
from crawl_api.rawheaders import documented_headers, header
from crawl_api.reads import BadCursorError, HistoryFilter, ReadStore, decode_cursor, encode_cursor
from crawl_api.settings import ApiSettings
from crawl_contracts import TERMINAL_STATUSES, CrawlRequest, JobStatus

__all__ = ["CrawlController", "CrawlCreated", "CrawlList", "parse_wait"]

_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_MAX_KEY = 255
_TIME = {"format": "date-time"}  # RFC 3339: what _parse_time accepts (a time zone included)


class CrawlCreated(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    status: str


class CrawlList(BaseModel):
    items: list[CrawlView]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end")


def parse_wait(prefer: str | None, ceiling: float) -> float:
    """Seconds asked for by ``Prefer: wait=N`` (RFC 7240), capped at ``ceiling``; 0 if absent."""
    if not prefer:
        return 0.0
    match = _WAIT.search(prefer)
    return min(float(match.group(1)), ceiling) if match else 0.0


async def _long_poll(
    *,
    views: JobViews,
    changes: ChangeFeed,
    settings: ApiSettings,
    job_id: str,
    principal: Principal,
    if_none_match: str | None,
    wait: float,
) -> dict[str, Any]:
    """The job once it differs from ``if_none_match`` (or from its state at the call), is
    finished, or ``wait`` seconds passed. Woken by the change feed's notices; reads the
    database every ``changes_poll_interval`` as well (``poll_interval`` while the feed is
    down), in case a notice was lost."""
    deadline = time.monotonic() + wait
    with changes.watch(job_id) as watch:  # before the first read: no notice falls between
        doc = await views.current(job_id, principal, if_none_match)
        baseline = if_none_match or views.etag(doc)
        while doc["status"] not in TERMINAL_STATUSES and matches(baseline, views.etag(doc)):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            every = settings.changes_poll_interval if changes.connected else settings.poll_interval
            notified = await watch.wait(min(every, left))
            doc = await views.get(job_id, principal, shared=not notified)
    return doc


def _parse_time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name} is not an ISO 8601 date-time", parameter=name) from exc
    if parsed.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone (e.g. Z)", parameter=name)
    return parsed


class CrawlController(Controller):
    path = "/api/v1/crawls"
    tags = ["crawls"]

    @post(
        "/",
        status_code=202,
        summary="Submit a crawl",
        description=(
            "Records the job as pending, publishes CrawlRequested and answers at once. With an "
            "`Idempotency-Key` header a repeat of the same body returns the same job; the same "
            "key with another body is a 422."
        ),
        responses=problems(400, *AUTHENTICATED, 413, 422, 503),
        response_headers=answer_headers(
            {"Location": "The job's URL", "Retry-After": "Seconds until a first poll is useful"},
            {"Idempotent-Replayed": "`true` when an earlier submission with the key answered"},
        ),
    )
    async def create(
        self,
        *,
        data: JSONBody[CrawlRequest],
        submission: NamedDependency[Submission],
        request: Request[Any, Any, Any],
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(
                name="Idempotency-Key",
                min_length=1,
                max_length=_MAX_KEY,
                schema_extra=HEADER_STRING,
            ),
        ] = None,
    ) -> Response[CrawlCreated]:
        principal, store, settings = submission.principal, submission.store, submission.settings
        submitted = await submission.submitter.submit(
            principal,
            data,
            idempotency_key=idempotency_key,
            correlation_id=request.headers.get("x-request-id"),
        )
        status = JobStatus.PENDING.value
        headers = {
            "Location": f"{self.path}/{submitted.job_id}",
            "Retry-After": str(settings.retry_after_seconds),
        }
        if submitted.replayed:
            headers["Idempotent-Replayed"] = "true"
            doc = await store.get(submitted.job_id, principal.tenant)
            status = doc["status"] if doc else status
        return Response(CrawlCreated(id=submitted.job_id, status=status), headers=headers)

    @get(
        "/{job_id:str}",
        summary="Status of a crawl",
        description=(
            "`ETag` on every answer; `If-None-Match` gives a 304 while nothing changed. "
            "`Prefer: wait=N` (N <= 30) holds the request until the job changes or finishes."
        ),
        operation_class=documented_headers("Prefer", "If-None-Match"),
        responses={
            **no_content(304, "Not modified: the job is as the `If-None-Match` ETag says"),
            **problems(*AUTHENTICATED, 404),
        },
        response_headers=answer_headers(
            {"ETag": "A validator of this representation", "Cache-Control": "`no-cache`"},
            {
                "Retry-After": "Seconds until the next poll is useful, while the job runs",
                "Preference-Applied": "`wait=N` when `Prefer: wait=N` was honoured",
            },
        ),
    )
    async def read(
        self,
        *,
        job_id: FromPath[str],
        status_read: NamedDependency[StatusRead],
        scope: Scope,
    ) -> Response[CrawlView]:
        principal, views = status_read.principal, status_read.views
        changes, settings = status_read.changes, status_read.settings
        # The hot path of every poller: both headers are read from the scope (see rawheaders).
        prefer = header(scope, b"prefer")
        if_none_match = header(scope, b"if-none-match")
        wait = parse_wait(prefer, settings.max_wait_seconds)
        headers: dict[str, str] = {}
        if wait > 0:
            headers["Preference-Applied"] = f"wait={wait:g}"
            doc = await _long_poll(
                views=views,
                changes=changes,
                settings=settings,
                job_id=job_id,
                principal=principal,
                if_none_match=if_none_match,
                wait=wait,
            )

        else:
            doc = await views.current(job_id, principal, if_none_match)
        etag = views.etag(doc)
        headers |= {"ETag": etag, "Cache-Control": "no-cache"}
        if doc["status"] not in TERMINAL_STATUSES:
            headers["Retry-After"] = str(settings.retry_after_seconds)
        if matches(if_none_match, etag):
            return Response(None, status_code=304, headers=headers)  # type: ignore[arg-type]
        rendered = Response(views.body(doc), media_type=MediaType.JSON, headers=headers)
        return cast("Response[CrawlView]", rendered)  # the same body, encoded once per version

    @delete(
        "/{job_id:str}",
        status_code=202,
        summary="Cancel a crawl",
        description=(
            "Publishes CrawlCancelRequested and answers at once; the job goes `cancelling`, then "
            "`cancelled`. 409 once the job has finished."
        ),
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404, 409, 503),
        response_headers=answer_headers({"Location": "The job's URL"}),
    )
    async def cancel(
        self,
        job_id: FromPath[str],
        principal: NamedDependency[Principal],
        canceller: NamedDependency[Canceller],
        request: Request[Any, Any, Any],
    ) -> Response[CrawlCancelAccepted]:
        accepted = await canceller.cancel(
            principal, job_id, correlation_id=request.headers.get("x-request-id")
        )
        return Response(accepted, status_code=202, headers={"Location": f"{self.path}/{job_id}"})

    @get(
        "/",
        summary="The caller's crawls, newest first",
        description=(
            "Filter by status (repeatable), start URL host and creation time. Or, alone, "
            "`id_prefix`: the crawls whose id starts with it, in id order, without a cursor "
            "(how `crawlctl` resolves the short ids it shows; ask for 2 or more to tell "
            "whether a prefix is ambiguous)."
        ),
        responses=problems(400, *AUTHENTICATED, 422),
    )
    async def history(
        self,
        *,
        principal: NamedDependency[Principal],
        reads: NamedDependency[ReadStore],
        status: FromQuery[list[JobStatus] | None] = None,
        host: Annotated[str | None, QueryParameter(max_length=253)] = None,
        created_after: Annotated[
            str | None, QueryParameter(description="ISO 8601, inclusive", schema_extra=_TIME)
        ] = None,
        created_before: Annotated[
            str | None, QueryParameter(description="ISO 8601, exclusive", schema_extra=_TIME)
        ] = None,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        id_prefix: Annotated[
            str | None,
            QueryParameter(pattern=ID_PREFIX_PATTERN, description="The start of a crawl id"),
        ] = None,
    ) -> CrawlList:
        if id_prefix is not None:
            alone = not (status or host or created_after or created_before or cursor)
            docs = await by_id_prefix(reads, principal.tenant, id_prefix, limit, alone=alone)
            return CrawlList(items=[job_view(d) for d in docs], next_cursor=None)
        before: str | None = None
        if cursor is not None:
            try:
                (before,) = decode_cursor(cursor, 1)
            except BadCursorError as exc:
                raise BadRequest("the cursor is not one this API handed out") from exc
            if not isinstance(before, str):
                raise BadRequest("the cursor is not one this API handed out")
        where = HistoryFilter(
            statuses=tuple(s.value for s in status or ()),
            host=host,
            created_after=_parse_time("created_after", created_after),
            created_before=_parse_time("created_before", created_before),
        )
        docs = await reads.history(principal.tenant, where, before=before, limit=limit)
        next_cursor = None
        if len(docs) == limit and docs[-1].get("list_key") is not None:
            next_cursor = encode_cursor(docs[-1]["list_key"])
        return CrawlList(items=[job_view(d) for d in docs], next_cursor=next_cursor)
