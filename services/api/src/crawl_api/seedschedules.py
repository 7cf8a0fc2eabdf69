"""Scheduling an assistant's web crawl on the seed routes.

A schedule of an assistant submits, at each tick, one job per start URL of the assistant, and
records them as one run in the assistant's history (``/webcrawl/history``), as the start route
does. By default each run is a re-crawl of the last completed one (``recrawlSincePrevious``),
so it is cheap and says what changed. The schedule is an ordinary one otherwise: it is listed,
paused, resumed and deleted under ``/api/v1/schedules`` as well.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crawl_api.auth import Principal
from crawl_api.problems import AUTHENTICATED, ProblemOperation, answer_headers, problems
from crawl_api.schedules import ScheduleView, schedule_view
from crawl_api.schedulestore import ScheduleStore
from crawl_api.seed import assistant_config, assistant_request
from crawl_api.settings import ApiSettings
from crawl_schema.schedules import MIN_EVERY, Timing

__all__ = ["AssistantScheduleController", "ScheduleWebCrawlRequest"]

_MOST_LISTED = 200  # an assistant's schedules are found among its tenant's newest


class ScheduleWebCrawlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    every_seconds: int | None = Field(
        default=None, ge=MIN_EVERY, le=366 * 24 * 3600, alias="everySeconds"
    )
    cron: str | None = Field(default=None, min_length=9, max_length=200)
    time_zone: str = Field(default="UTC", min_length=1, max_length=64, alias="timeZone")
    bypass_robots_txt_check_domains: list[Annotated[str, Field(min_length=1, max_length=253)]] = (
        Field(default_factory=list, alias="bypassRobotsTxtCheckDomains", max_length=100)
    )
    recrawl_since_previous: bool = Field(default=True, alias="recrawlSincePrevious")

    @model_validator(mode="after")
    def _valid_timing(self) -> ScheduleWebCrawlRequest:
        self.timing()
        return self

    def timing(self) -> Timing:
        """The timing; a ``ValueError`` (a 422) names the rule it breaks."""
        return Timing(self.every_seconds, self.cron, self.time_zone)


class AssistantScheduleController(Controller):
    path = "/api/assistants/{assistant_id:str}/webcrawl/schedules"
    tags = ["assistants"]

    @post(
        "/",
        status_code=201,
        summary="Schedule the assistant's web crawl",
        description=(
            "`everySeconds` or `cron` (with `timeZone`). Each tick starts a run of the "
            "assistant's URLs, shown in its history; by default a re-crawl of the last "
            "completed run."
        ),
        responses=problems(400, *AUTHENTICATED, 404, 409, 413, 422, 503),
        response_headers=answer_headers({"Location": "The schedule's URL"}),
    )
    async def create(
        self,
        *,
        assistant_id: FromPath[str],
        data: JSONBody[ScheduleWebCrawlRequest],
        principal: NamedDependency[Principal],
        settings: NamedDependency[ApiSettings],
        schedules: NamedDependency[ScheduleStore],
    ) -> Response[ScheduleView]:
        assistant = assistant_config(settings, assistant_id, principal)
        bypass = tuple(data.bypass_robots_txt_check_domains)
        schedule_id = str(uuid.uuid4())
        doc = await schedules.create(
            principal,
            schedule_id,
            timing=data.timing(),
            requests=[
                assistant_request(assistant, url, bypass).model_dump(mode="json", exclude={"since"})
                for url in assistant.urls
            ],
            name=f"assistant {assistant_id}",
            since_previous=data.recrawl_since_previous,
            assistant_id=assistant_id,
        )
        return Response(
            schedule_view(doc),
            status_code=201,
            headers={"Location": f"/api/v1/schedules/{schedule_id}"},
        )

    @get(
        "/",
        summary="The assistant's schedules",
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def index(
        self,
        *,
        assistant_id: FromPath[str],
        principal: NamedDependency[Principal],
        settings: NamedDependency[ApiSettings],
        schedules: NamedDependency[ScheduleStore],
    ) -> list[ScheduleView]:
        assistant_config(settings, assistant_id, principal)
        docs = await schedules.page(principal.tenant, before=None, limit=_MOST_LISTED)
        return [schedule_view(d) for d in docs if d.get("assistant_id") == assistant_id]
