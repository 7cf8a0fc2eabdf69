"""A crawl's results: its pages (listed or streamed as JSON Lines), its log and its webhook
deliveries. Every route first checks that the job belongs to the caller's tenant."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream
from pydantic import BaseModel, Field

from crawl_api.auth import Principal
from crawl_api.errors import BadRequest
from crawl_api.jobviews import JobViews
from crawl_api.problems import AUTHENTICATED, ProblemOperation, problems
from crawl_api.reads import PAGE_FIELDS, BadCursorError, ReadStore, decode_cursor, encode_cursor
from crawl_api.store import iso
from crawl_contracts import Outcome

__all__ = ["ResultsController", "job_cursor", "page_item"]

_DEFAULT_FIELDS = ",".join(f for f in PAGE_FIELDS if f != "order")
_FIELD = "(?:" + "|".join(PAGE_FIELDS) + ")"
_FIELDS_PATTERN = rf"^\s*{_FIELD}?\s*(?:,\s*{_FIELD}?\s*)*$"  # what _fields accepts
_Fields = Annotated[
    str,
    QueryParameter(
        max_length=500,
        # Documented, not enforced here: _fields answers a 400 that names the unknown fields.
        schema_extra={"pattern": _FIELDS_PATTERN},
        description="Comma-separated page fields (`url` is always there)",
    ),
]


class PageList(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="Pages with the chosen `fields` (`url` always); see PageRecorded"
    )
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end")


class LogLine(BaseModel):
    seq: int = Field(description="Ordering number; pass the last one as ?after=")
    level: str
    message: str
    at: str | None


class LogList(BaseModel):
    items: list[LogLine]
    next_after: int | None = Field(description="Pass as ?after= to continue; null when caught up")


class WebhookAttempt(BaseModel):
    at: str | None
    status_code: int | None
    error: str | None
    duration_ms: float | None


class WebhookDelivery(BaseModel):
    id: str = Field(description="The webhook-id header of the delivery")
    event: str
    url: str
    state: str = Field(description="pending, delivered or failed (gave up)")
    attempts: list[WebhookAttempt]
    next_attempt_at: str | None


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDelivery]


def _fields(raw: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(f.strip() for f in raw.split(",") if f.strip()))
    unknown = [f for f in chosen if f not in PAGE_FIELDS]
    if unknown:
        raise BadRequest(
            f"unknown field(s) {', '.join(unknown)}; choose from {', '.join(PAGE_FIELDS)}",
            parameter="fields",
        )
    return ("url", *(f for f in chosen if f != "url"))


def job_cursor(cursor: str, job_id: str) -> object:
    """The position a cursor of this crawl continues after (a cursor names its crawl); what
    the position must be is the caller's to check."""
    try:
        crawl, position = decode_cursor(cursor, 2)
    except BadCursorError as exc:
        raise BadRequest(str(exc), parameter="cursor") from exc
    if crawl != job_id:
        raise BadRequest("the cursor belongs to another crawl", parameter="cursor")
    return position


def _page_cursor(cursor: str, job_id: str) -> int:
    """The ordering number a page cursor continues after."""
    order = job_cursor(cursor, job_id)
    if not isinstance(order, int) or isinstance(order, bool):
        raise BadRequest("the cursor is not one this API handed out", parameter="cursor")
    return order


def page_item(doc: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: doc.get(f) for f in fields}


class ResultsController(Controller):
    path = "/api/v1/crawls/{job_id:str}"
    tags = ["results"]

    @get(
        "/pages",
        summary="Pages of a crawl, by cursor",
        description=(
            "`fields` picks what each page carries (comma-separated); leave `markdown` out for "
            "a cheap listing. `outcome` keeps only fetched, failed or skipped pages."
        ),
        responses=problems(400, *AUTHENTICATED, 404, 422),
    )
    async def pages(
        self,
        *,
        job_id: FromPath[str],
        principal: NamedDependency[Principal],
        views: NamedDependency[JobViews],
        reads: NamedDependency[ReadStore],
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        outcome: FromQuery[Outcome | None] = None,
        fields: _Fields = _DEFAULT_FIELDS,
    ) -> PageList:
        await views.get(job_id, principal)
        chosen = _fields(fields)
        after = _page_cursor(cursor, job_id) if cursor is not None else None
        docs = await reads.page_list(
            job_id,
            after=after,
            limit=limit,
            outcome=outcome.value if outcome else None,
            fields=chosen,
        )
        next_cursor = encode_cursor(job_id, docs[-1]["order"]) if len(docs) == limit else None
        return PageList(items=[page_item(d, chosen) for d in docs], next_cursor=next_cursor)

    @get(
        "/pages.jsonl",
        summary="Every page of a crawl as JSON Lines",
        description="Streamed in batches: memory stays flat however many pages there are.",
        media_type="application/jsonl",
        responses=problems(400, *AUTHENTICATED, 404, 422),
    )
    async def pages_jsonl(
        self,
        job_id: FromPath[str],
        principal: NamedDependency[Principal],
        views: NamedDependency[JobViews],
        reads: NamedDependency[ReadStore],
        fields: _Fields = _DEFAULT_FIELDS,
    ) -> Stream:
        await views.get(job_id, principal)
        chosen = _fields(fields)

        async def lines() -> AsyncIterator[bytes]:
            async for doc in reads.all_pages(job_id, chosen):
                yield json.dumps(page_item(doc, chosen), default=str).encode() + b"\n"

        return Stream(lines(), media_type="application/jsonl")

    @get(
        "/logs",
        summary="Log lines of a crawl, in order, after a sequence number",
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404, 422),
    )
    async def logs(
        self,
        *,
        job_id: FromPath[str],
        principal: NamedDependency[Principal],
        views: NamedDependency[JobViews],
        reads: NamedDependency[ReadStore],
        # ``minimum`` restated: Litestar leaves a bound of 0 out of an optional's schema.
        after: Annotated[int | None, QueryParameter(ge=0, schema_extra={"minimum": 0})] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> LogList:
        await views.get(job_id, principal)
        docs = await reads.log_list(job_id, after=after, limit=limit)
        items = [
            LogLine(seq=d["order"], level=d["level"], message=d["message"], at=iso(d.get("at")))
            for d in docs
        ]
        next_after = items[-1].seq if len(items) == limit else None
        return LogList(items=items, next_after=next_after)

    @get(
        "/webhooks",
        summary="Webhook deliveries of a crawl, with every attempt",
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def webhooks(
        self,
        job_id: FromPath[str],
        principal: NamedDependency[Principal],
        views: NamedDependency[JobViews],
        reads: NamedDependency[ReadStore],
    ) -> WebhookDeliveryList:
        await views.get(job_id, principal)

        docs = await reads.webhook_deliveries(job_id)
        return WebhookDeliveryList(
            items=[
                WebhookDelivery(
                    id=d["webhook_id"],
                    event=d["event"],
                    url=d["url"],
                    state=d["state"],
                    attempts=[
                        WebhookAttempt(
                            at=iso(a.get("at")),
                            status_code=a.get("status_code"),
                            error=a.get("error"),
                            duration_ms=a.get("duration_ms"),
                        )
                        for a in d.get("attempts", [])
                    ],
                    next_attempt_at=iso(d.get("next_attempt_at")),
                )
                for d in docs
            ]
        )
