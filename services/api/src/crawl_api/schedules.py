"""``/api/v1/schedules``: crawls that run on their own, every N seconds or on a cron expression.

A schedule holds a crawl request; each tick submits it as a new job (made by the status
service, which fires each tick exactly once however many replicas run, and a tick missed while
none ran once on return: ``crawl_schema.schedules``). ``since: "previous"`` makes each run a
re-crawl of the last completed one (conditional requests, a change list); ``overlap: "skip"``
(the default) fires nothing while the previous run is unfinished, and says so in its runs.
Another tenant's schedule is a 404, as another tenant's job is.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crawl_api.auth import Principal
from crawl_api.errors import BadRequest
from crawl_api.problems import AUTHENTICATED, ProblemOperation, answer_headers, problems
from crawl_api.reads import BadCursorError, decode_cursor, encode_cursor
from crawl_api.schedulestore import ScheduleStore, next_run
from crawl_api.store import JobStore
from crawl_contracts import CrawlRequest
from crawl_schema.schedules import MIN_EVERY, Timing

__all__ = [
    "ScheduleController",
    "ScheduleCreate",
    "ScheduleList",
    "ScheduleRun",
    "ScheduleView",
    "runs_of",
    "schedule_view",
]

_YEAR = 366 * 24 * 3600


class ScheduleCreate(BaseModel):
    """A new schedule: ``every`` or ``cron``, and the crawl each tick submits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(default=None, max_length=200, description="A label of your own")
    every: int | None = Field(
        default=None,
        ge=MIN_EVERY,
        le=_YEAR,
        description="Fire every this many seconds (on the multiples of it since the Unix epoch)",
    )
    cron: str | None = Field(
        default=None,
        min_length=9,
        max_length=200,
        description="Fire at the times of this five-field cron expression (minute first)",
    )
    timezone: str = Field(
        default="UTC", min_length=1, max_length=64, description="IANA time zone of `cron`"
    )
    crawl: CrawlRequest = Field(description="The crawl each tick submits (without `since`)")
    since: Literal["previous"] | None = Field(
        default=None,
        description="`previous`: each run is a re-crawl of the schedule's last completed run",
    )
    overlap: Literal["skip", "allow"] = Field(
        default="skip",
        description="`skip`: a tick fires nothing while the previous run is unfinished",
    )
    paused: bool = Field(default=False, description="Create it paused (resume to start it)")

    @model_validator(mode="after")
    def _valid_timing(self) -> ScheduleCreate:
        self.timing()
        if self.crawl.since is not None:
            raise ValueError('a schedule\'s crawl names no `since`; use `"since": "previous"`')
        return self

    def timing(self) -> Timing:
        """The timing; a ``ValueError`` (a 422) names the rule it breaks."""
        return Timing(self.every, self.cron, self.timezone)


class ScheduleView(BaseModel):
    id: str
    name: str | None
    every: int | None
    cron: str | None
    timezone: str
    crawl: CrawlRequest = Field(
        description="What each tick submits (the first URL's, for an assistant's schedule)"
    )
    urls: list[str] = Field(description="The start URL of each job a tick submits")
    assistant_id: str | None = Field(description="Set for an assistant's schedule (seed routes)")
    since: Literal["previous"] | None
    overlap: str
    paused: bool
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime | None = Field(description="The next tick; null while paused")


class ScheduleList(BaseModel):
    items: list[ScheduleView]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end")


class ScheduleJob(BaseModel):
    job_id: str
    url: str
    since: str | None = Field(description="The job this one is a re-crawl of")
    status: str = Field(description="The job's status now (pending until first projected)")


class ScheduleRun(BaseModel):
    tick: datetime = Field(description="The tick this run stands for")
    fired_at: datetime = Field(description="When it fired (later than the tick if it was missed)")
    missed: int = Field(description="Further ticks that passed unfired before it (downtime)")
    skipped: str | None = Field(description="Why it submitted nothing, if it did not")
    jobs: list[ScheduleJob]
    run_id: str | None = Field(description="The assistant run it made (seed routes)")


class ScheduleRuns(BaseModel):
    items: list[ScheduleRun]
    next_cursor: str | None


def schedule_view(doc: dict[str, Any]) -> ScheduleView:
    requests = doc["requests"]
    return ScheduleView(
        id=doc["_id"],
        name=doc.get("name"),
        every=doc.get("every"),
        cron=doc.get("cron"),
        timezone=doc.get("timezone", "UTC"),
        crawl=CrawlRequest.model_validate(requests[0]),
        urls=[r["url"] for r in requests],
        assistant_id=doc.get("assistant_id"),
        since="previous" if doc.get("since_previous") else None,
        overlap=doc.get("overlap", "skip"),
        paused=bool(doc.get("paused")),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        next_run_at=None if doc.get("paused") else next_run(doc),
    )


async def runs_of(
    store: ScheduleStore,
    jobs: JobStore,
    schedule: dict[str, Any],
    tenant: str,
    *,
    before: datetime | None,
    limit: int,
) -> list[ScheduleRun]:
    """A schedule's runs, newest first, with their jobs' statuses (one read for all)."""
    fires = await store.fires(schedule, before=before, limit=limit)
    ids = [j["job_id"] for fire in fires for j in fire.get("jobs", [])]
    summaries = await jobs.summaries(ids, tenant) if ids else {}
    return [
        ScheduleRun(
            tick=fire["tick"],
            fired_at=fire["fired_at"],
            missed=int(fire.get("missed", 0)),
            skipped=fire.get("skipped"),
            jobs=[
                ScheduleJob(
                    job_id=j["job_id"],
                    url=j["url"],
                    since=j.get("since"),
                    status=str(summaries.get(j["job_id"], {}).get("status", "pending")),
                )
                for j in fire.get("jobs", [])
            ],
            run_id=fire.get("run_id"),
        )
        for fire in fires
    ]


def _cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        (value,) = decode_cursor(cursor, 1)
    except BadCursorError as exc:
        raise BadRequest("the cursor is not one this API handed out") from exc
    if not isinstance(value, str):
        raise BadRequest("the cursor is not one this API handed out")
    return value


class ScheduleController(Controller):
    path = "/api/v1/schedules"
    tags = ["schedules"]

    @post(
        "/",
        status_code=201,
        summary="Create a schedule",
        description=(
            "Give `every` (seconds, at least 5) or `cron` (five fields, in `timezone`). Each "
            "tick submits `crawl` as a new job; `since: previous` chains re-crawls."
        ),
        responses=problems(400, *AUTHENTICATED, 409, 413, 422, 503),
        response_headers=answer_headers({"Location": "The schedule's URL"}),
    )
    async def create(
        self,
        *,
        data: JSONBody[ScheduleCreate],
        principal: NamedDependency[Principal],
        schedules: NamedDependency[ScheduleStore],
    ) -> Response[ScheduleView]:
        schedule_id = str(uuid.uuid4())
        doc = await schedules.create(
            principal,
            schedule_id,
            timing=data.timing(),
            requests=[data.crawl.model_dump(mode="json", exclude={"since"})],
            name=data.name,
            since_previous=data.since == "previous",
            overlap=data.overlap,
            paused=data.paused,
        )
        return Response(
            schedule_view(doc),
            status_code=201,
            headers={"Location": f"{self.path}/{schedule_id}"},
        )

    @get(
        "/",
        summary="The caller's schedules, newest first",
        responses=problems(400, *AUTHENTICATED, 422),
    )
    async def index(
        self,
        *,
        principal: NamedDependency[Principal],
        schedules: NamedDependency[ScheduleStore],
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> ScheduleList:
        docs = await schedules.page(principal.tenant, before=_cursor(cursor), limit=limit)
        next_cursor = encode_cursor(docs[-1]["list_key"]) if len(docs) == limit else None
        return ScheduleList(items=[schedule_view(d) for d in docs], next_cursor=next_cursor)

    @get(
        "/{schedule_id:str}",
        summary="One schedule",
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def read(
        self,
        *,
        schedule_id: FromPath[str],
        principal: NamedDependency[Principal],
        schedules: NamedDependency[ScheduleStore],
    ) -> ScheduleView:
        return schedule_view(await schedules.get(schedule_id, principal.tenant))

    @get(
        "/{schedule_id:str}/runs",
        summary="The schedule's runs, newest first, with their jobs",
        responses=problems(400, *AUTHENTICATED, 404, 422),
    )
    async def runs(
        self,
        *,
        schedule_id: FromPath[str],
        principal: NamedDependency[Principal],
        schedules: NamedDependency[ScheduleStore],
        store: NamedDependency[JobStore],
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> ScheduleRuns:
        schedule = await schedules.get(schedule_id, principal.tenant)
        before = _cursor(cursor)
        try:
            moment = datetime.fromisoformat(before) if before is not None else None
        except ValueError as exc:
            raise BadRequest("the cursor is not one this API handed out") from exc
        items = await runs_of(
            schedules, store, schedule, principal.tenant, before=moment, limit=limit
        )
        next_cursor = encode_cursor(items[-1].tick.isoformat()) if len(items) == limit else None
        return ScheduleRuns(items=items, next_cursor=next_cursor)

    @post(
        "/{schedule_id:str}/pause",
        status_code=200,
        summary="Pause a schedule (its ticks do not fire until it is resumed)",
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def pause(
        self,
        *,
        schedule_id: FromPath[str],
        principal: NamedDependency[Principal],
        schedules: NamedDependency[ScheduleStore],
    ) -> ScheduleView:
        return schedule_view(await schedules.pause(schedule_id, principal.tenant))

    @post(
        "/{schedule_id:str}/resume",
        status_code=200,
        summary="Resume a schedule from its next tick",
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404, 503),
    )
    async def resume(
        self,
        *,
        schedule_id: FromPath[str],
        principal: NamedDependency[Principal],
        schedules: NamedDependency[ScheduleStore],
    ) -> ScheduleView:
        return schedule_view(await schedules.resume(schedule_id, principal.tenant))

    @delete(
        "/{schedule_id:str}",
        status_code=204,
        summary="Delete a schedule (its runs' jobs stay)",
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def remove(
        self,
        *,
        schedule_id: FromPath[str],
        principal: NamedDependency[Principal],
        schedules: NamedDependency[ScheduleStore],
    ) -> None:
        await schedules.delete(schedule_id, principal.tenant)
