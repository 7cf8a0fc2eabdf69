"""``/api/v1/crawls``: submit a crawl, read its status (long-polling), list the history.

HTTP's own conventions carry the semantics: ``202`` + ``Location`` + ``Retry-After`` on
submission (RFC 9110), ``Idempotency-Key`` for safe retries, ``ETag`` / ``If-None-Match`` ->
``304`` for cheap polling, and ``Prefer: wait=N`` (RFC 7240) to hold a poll open until the job
changes. Pages, logs and events are in :mod:`crawl_api.results` and :mod:`crawl_api.events`.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from datetime import datetime
from typing import Annotated, Any, cast

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.types import Scope
from pydantic import BaseModel, ConfigDict, Field

from crawl_api.auth import Principal
from crawl_api.changes import ChangeFeed
from crawl_api.errors import ApiProblem, NotFound
from crawl_api.idprefix import ID_PREFIX_PATTERN, by_id_prefix
from crawl_api.rawheaders import documented_headers, header
from crawl_api.reads import BadCursorError, HistoryFilter, ReadStore, decode_cursor, encode_cursor
from crawl_api.singleflight import SingleFlight
from crawl_api.store import JobStore, iso
from crawl_api.submission import Submitter
from crawl_contracts import TERMINAL_STATUSES, CrawlRequest, JobStatus

__all__ = [
    "CrawlController",
    "CrawlCreated",
    "CrawlView",
    "etag_of",
    "job_or_404",
    "job_view",
    "parse_wait",
]

_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_MAX_KEY = 255


class CrawlCreated(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    status: str


class CounterView(BaseModel):
    discovered: int = 0
    queued: int = 0
    in_flight: int = 0
    fetched: int = 0
    failed: int = 0
    skipped: int = 0


class CrawlView(BaseModel):
    id: str
    status: JobStatus
    url: str | None
    request: dict[str, Any] | None
    counters: CounterView
    created_at: str | None
    started_at: str | None
    last_activity_at: str | None
    finished_at: str | None
    stop_reason: str | None
    error: dict[str, Any] | None
    attempt: int


class CrawlList(BaseModel):
    items: list[CrawlView]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end")


class BadRequest(ApiProblem):
    type_ = "bad-request"


def job_view(doc: dict[str, Any]) -> CrawlView:
    request = doc.get("request") or None
    return CrawlView(
        id=doc["_id"],
        status=JobStatus(doc["status"]),
        url=request.get("url") if request else None,
        request=request,
        counters=CounterView(**(doc.get("counters") or {})),
        created_at=iso(doc.get("created_at")),
        started_at=iso(doc.get("started_at")),
        last_activity_at=iso(doc.get("last_activity_at")),
        finished_at=iso(doc.get("finished_at")),
        stop_reason=doc.get("stop_reason"),
        error=doc.get("error"),
        attempt=int(doc.get("attempt", 1)),
    )


_RENDERED: OrderedDict[tuple[str, int], tuple[bytes, str]] = OrderedDict()
_RENDERED_MAX = 10_000


def _rendered(doc: dict[str, Any]) -> tuple[bytes, str]:
    """The JSON body of ``job_view(doc)`` and its ETag, built once per document version:
    pollers ask for the same version many times, and building and encoding the view was a
    tenth of a GET."""
    key = (str(doc["_id"]), int(doc.get("version", 0)))
    rendered = _RENDERED.get(key)
    if rendered is None:
        body = msgspec.json.encode(job_view(doc).model_dump(mode="json"))
        rendered = (body, f'W/"{hashlib.sha256(body).hexdigest()[:20]}"')
        _RENDERED[key] = rendered
        if len(_RENDERED) > _RENDERED_MAX:
            _RENDERED.popitem(last=False)
    return rendered


def render_view(doc: dict[str, Any]) -> bytes:
    return _rendered(doc)[0]


def etag_of(doc: dict[str, Any]) -> str:
    """A validator of the representation, not of the stored document: a write that changes
    only the projection's bookkeeping (e.g. that the command was seen) is no change to a
    poller, and neither answers ``200`` nor wakes a long poll."""
    return _rendered(doc)[1]


def parse_wait(prefer: str | None, ceiling: float) -> float:
    """Seconds asked for by ``Prefer: wait=N`` (RFC 7240), capped at ``ceiling``; 0 if absent."""
    if not prefer:
        return 0.0
    match = _WAIT.search(prefer)
    return min(float(match.group(1)), ceiling) if match else 0.0


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip() for t in if_none_match.split(",")}
    return "*" in tags or etag in tags or etag.removeprefix("W/") in tags


_READS: SingleFlight[dict[str, Any] | None] = SingleFlight()


async def job_or_404(
    store: JobStore,
    job_id: str,
    principal: Principal,
    *,
    shared: bool = True,
    cached: bool = True,
) -> dict[str, Any]:
    """The caller's job document: as recently read or received with a change notice (never
    older than the last notice for the job), else read, identical concurrent reads sharing
    one query unless ``shared`` is false (a read that must start now, e.g. after a change
    notice: one already in flight may predate the change). ``cached`` false reads the
    database in any case."""
    doc = store.recent.get(job_id) if cached else None
    if doc is not None:
        if doc.get("tenant") != principal.tenant:
            doc = None
    elif shared and cached:
        doc = await _READS.run(
            (id(store), job_id, principal.tenant), lambda: store.get(job_id, principal.tenant)
        )
    else:
        doc = await store.get(job_id, principal.tenant)
    if doc is None:
        raise NotFound(f"no crawl {job_id}")
    return doc


async def _current(
    store: JobStore, job_id: str, principal: Principal, if_none_match: str | None
) -> dict[str, Any]:
    """The job, for a request that may report a change: when the remembered document differs
    from what the caller holds, the database says what the change is (another API process
    may have shown the caller a version this one has not been sent yet)."""
    doc = await job_or_404(store, job_id, principal)
    if if_none_match and not _matches(if_none_match, etag_of(doc)):
        doc = await job_or_404(store, job_id, principal, shared=False, cached=False)
    return doc


async def _long_poll(
    state: State, job_id: str, principal: Principal, if_none_match: str | None, wait: float
) -> dict[str, Any]:
    """The job once it differs from ``if_none_match`` (or from its state at the call), is
    finished, or ``wait`` seconds passed. Woken by the change feed's notices; reads the
    database every ``changes_poll_interval`` as well (``poll_interval`` while the feed is
    down), in case a notice was lost."""
    store: JobStore = state.store
    changes: ChangeFeed = state.changes
    deadline = time.monotonic() + wait
    with changes.watch(job_id) as watch:  # before the first read: no notice falls between
        doc = await _current(store, job_id, principal, if_none_match)
        baseline = if_none_match or etag_of(doc)
        while doc["status"] not in TERMINAL_STATUSES and _matches(baseline, etag_of(doc)):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            settings = state.settings
            every = settings.changes_poll_interval if changes.connected else settings.poll_interval
            notified = await watch.wait(min(every, left))
            doc = await job_or_404(store, job_id, principal, shared=not notified)
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
    )
    async def create(
        self,
        data: CrawlRequest,
        principal: Principal,
        state: State,
        request: Request[Any, Any, Any],
        idempotency_key: Annotated[
            str | None, Parameter(header="Idempotency-Key", min_length=1, max_length=_MAX_KEY)
        ] = None,
    ) -> Response[CrawlCreated]:
        submitter: Submitter = state.submitter
        submitted = await submitter.submit(
            principal,
            data,
            idempotency_key=idempotency_key,
            correlation_id=request.headers.get("x-request-id"),
        )
        status = JobStatus.PENDING.value
        headers = {
            "Location": f"{self.path}/{submitted.job_id}",
            "Retry-After": str(state.settings.retry_after_seconds),
        }
        if submitted.replayed:
            headers["Idempotent-Replayed"] = "true"
            doc = await state.store.get(submitted.job_id, principal.tenant)
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
    )
    async def read(
        self,
        *,
        job_id: str,
        principal: Principal,
        state: State,
        scope: Scope,
    ) -> Response[CrawlView]:
        # The hot path of every poller: both headers are read from the scope (see rawheaders).
        prefer = header(scope, b"prefer")
        if_none_match = header(scope, b"if-none-match")
        store: JobStore = state.store
        wait = parse_wait(prefer, state.settings.max_wait_seconds)
        headers: dict[str, str] = {}
        if wait > 0:
            headers["Preference-Applied"] = f"wait={wait:g}"
            doc = await _long_poll(state, job_id, principal, if_none_match, wait)
        else:
            doc = await _current(store, job_id, principal, if_none_match)
        etag = etag_of(doc)
        headers |= {"ETag": etag, "Cache-Control": "no-cache"}
        if doc["status"] not in TERMINAL_STATUSES:
            headers["Retry-After"] = str(state.settings.retry_after_seconds)
        if _matches(if_none_match, etag):
            return Response(None, status_code=304, headers=headers)  # type: ignore[arg-type]
        rendered = Response(render_view(doc), media_type=MediaType.JSON, headers=headers)
        return cast("Response[CrawlView]", rendered)  # the same body, encoded once per version

    @get(
        "/",
        summary="The caller's crawls, newest first",
        description=(
            "Filter by status (repeatable), start URL host and creation time. Or, alone, "
            "`id_prefix`: the crawls whose id starts with it, in id order, without a cursor "
            "(how `crawlctl` resolves the short ids it shows; ask for 2 or more to tell "
            "whether a prefix is ambiguous)."
        ),
    )
    async def history(
        self,
        *,
        principal: Principal,
        state: State,
        status: list[JobStatus] | None = None,
        host: Annotated[str | None, Parameter(max_length=253)] = None,
        created_after: Annotated[str | None, Parameter(description="ISO 8601, inclusive")] = None,
        created_before: Annotated[str | None, Parameter(description="ISO 8601, exclusive")] = None,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        id_prefix: Annotated[
            str | None,
            Parameter(pattern=ID_PREFIX_PATTERN, description="The start of a crawl id"),
        ] = None,
    ) -> CrawlList:
        reads: ReadStore = state.reads
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
