"""``/api/v1/crawls``: submit a crawl, read its status and its pages."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import structlog
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from pydantic import BaseModel, ConfigDict, Field

from crawl_api.auth import Principal
from crawl_api.errors import NotFound, ServiceUnavailable
from crawl_api.publisher import CommandPublisher, PublishError
from crawl_api.store import JobStore, iso
from crawl_contracts import TERMINAL_STATUSES, CrawlRequest, CrawlRequested, JobStatus

__all__ = ["CrawlController", "CrawlCreated", "job_view"]

log = structlog.get_logger("crawl_api")


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


class PageView(BaseModel):
    url: str
    outcome: str
    reason: str | None = None
    http_status: int | None = None
    depth: int = 0
    attempts: int = 0
    title: str | None = None
    language: str | None = None
    description: str | None = None
    content_hash: str | None = None
    final_url: str | None = None
    content_type: str | None = None
    markdown: str | None = None


class PageList(BaseModel):
    items: list[PageView]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end")


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


def _etag(doc: dict[str, Any]) -> str:
    digest = hashlib.sha256(f"{doc['_id']}:{doc.get('version', 0)}".encode()).hexdigest()[:16]
    return f'W/"{digest}"'


class CrawlController(Controller):
    path = "/api/v1/crawls"
    tags = ["crawls"]

    @post(
        "/",
        status_code=202,
        summary="Submit a crawl",
        description="Records the job as pending, publishes CrawlRequested and answers at once.",
    )
    async def create(
        self,
        data: CrawlRequest,
        principal: Principal,
        state: State,
        request: Request[Any, Any, Any],
    ) -> Response[CrawlCreated]:
        store: JobStore = state.store
        publisher: CommandPublisher = state.publisher
        command = CrawlRequested(
            job_id=_new_job_id(),
            tenant=principal.tenant,
            request=data,
            submitted_by=principal.user,
            correlation_id=request.headers.get("x-request-id"),
        )
        await store.record_pending(command)
        try:
            await publisher.publish(command)
        except PublishError as exc:
            await store.forget_pending(command.job_id)
            log.warning("crawl.publish_failed", job_id=command.job_id, error=str(exc))
            raise ServiceUnavailable(
                "the message broker did not accept the job; nothing was recorded, retry later",
                headers={"Retry-After": "5"},
            ) from exc
        log.info("crawl.accepted", job_id=command.job_id, url=data.url)
        return Response(
            CrawlCreated(id=command.job_id, status=JobStatus.PENDING.value),
            status_code=202,
            headers={
                "Location": f"{self.path}/{command.job_id}",
                "Retry-After": str(state.settings.retry_after_seconds),
            },
        )

    @get("/{job_id:str}", summary="Status of a crawl")
    async def read(
        self, job_id: str, principal: Principal, state: State, request: Request[Any, Any, Any]
    ) -> Response[CrawlView]:
        doc = await _job_or_404(state.store, job_id, principal)
        etag = _etag(doc)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if doc["status"] not in TERMINAL_STATUSES:
            headers["Retry-After"] = str(state.settings.retry_after_seconds)
        if request.headers.get("if-none-match") == etag:
            return Response(None, status_code=304, headers=headers)  # type: ignore[arg-type]
        return Response(job_view(doc), headers=headers)

    @get("/{job_id:str}/pages", summary="Pages of a crawl, in pages of `limit`")
    async def pages(
        self,
        job_id: str,
        principal: Principal,
        state: State,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> PageList:
        store: JobStore = state.store
        await _job_or_404(store, job_id, principal)
        if cursor is not None and not cursor.startswith(f"{job_id}:"):
            cursor = None
        docs = await store.pages(job_id, after=cursor, limit=limit)
        items = [PageView(**{k: v for k, v in d.items() if k != "_id"}) for d in docs]
        next_cursor = docs[-1]["_id"] if len(docs) == limit else None
        return PageList(items=items, next_cursor=next_cursor)


async def _job_or_404(store: JobStore, job_id: str, principal: Principal) -> dict[str, Any]:
    doc = await store.get(job_id, principal.tenant)
    if doc is None:
        raise NotFound(f"no crawl {job_id}")
    return doc


def _new_job_id() -> str:
    import uuid  # noqa: PLC0415

    return str(uuid.uuid4())
