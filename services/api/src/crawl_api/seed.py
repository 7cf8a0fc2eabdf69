"""The assistant web-crawl routes of the original application, on top of the same core.

A *run* of an assistant crawls each of the assistant's configured start URLs as one job; the
run record (``assistant_runs``, written only by the API) ties them together. Statuses use the
original names, mapped from ours: ``Pending``, ``Processing``, ``Completed``, ``Error``,
``Cancelled``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, MediaType, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from pydantic import BaseModel, ConfigDict, Field, RootModel
from pymongo.asynchronous.collection import AsyncCollection

from crawl_api.auth import Principal
from crawl_api.cancel import Canceller
from crawl_api.errors import Conflict, NotFound
from crawl_api.problems import AUTHENTICATED, ProblemOperation, answer_headers, problems
from crawl_api.settings import ApiSettings, AssistantConfig
from crawl_api.store import JobStore, iso
from crawl_api.submission import Submitter
from crawl_contracts import TERMINAL_STATUSES, CrawlRequest, JobStatus
from crawl_contracts.envelope import utcnow
from crawl_schema.documents import assistant_run
from crawl_schema.queries import assistant_runs

__all__ = [
    "AssistantCrawlController",
    "Runs",
    "StartWebCrawlRequest",
    "assistant_config",
    "assistant_request",
    "seed_status",
]

Runs = AsyncCollection[dict[str, Any]]
"""The run records (``assistant_runs``): written and read only by these routes."""


_SEED_STATUS = {
    JobStatus.PENDING: "Pending",
    JobStatus.RUNNING: "Processing",
    JobStatus.CANCELLING: "Processing",
    JobStatus.STALLED: "Processing",
    JobStatus.COMPLETED: "Completed",
    JobStatus.FAILED: "Error",
    JobStatus.CANCELLED: "Cancelled",
}


def seed_status(statuses: list[str]) -> str:
    """One run status from its jobs' statuses: unfinished work first, then the worst ending."""
    mapped = [JobStatus(s) for s in statuses]
    if not mapped or all(s is JobStatus.PENDING for s in mapped):
        return "Pending"
    if any(s not in TERMINAL_STATUSES for s in mapped):
        return "Processing"
    for worst in (JobStatus.FAILED, JobStatus.CANCELLED):
        if worst in mapped:
            return _SEED_STATUS[worst]
    return "Completed"


class StartWebCrawlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    bypass_robots_txt_check_domains: list[Annotated[str, Field(min_length=1, max_length=253)]] = (
        Field(default_factory=list, alias="bypassRobotsTxtCheckDomains", max_length=100)
    )


class RunId(RootModel[str]):
    """The id of a run, answered as a bare JSON string."""


class UrlRun(BaseModel):
    url: str
    jobId: str  # noqa: N815  (the original wire names)
    status: str
    pagesFetched: int  # noqa: N815
    pagesFailed: int  # noqa: N815
    pagesSkipped: int  # noqa: N815


class WebCrawlRun(BaseModel):
    id: str
    assistantId: str  # noqa: N815
    status: str
    createdAtUtc: str | None  # noqa: N815
    lastActivityAtUtc: str | None  # noqa: N815
    completedAtUtc: str | None  # noqa: N815
    createdByUserId: str | None  # noqa: N815
    urls: list[UrlRun]


class AssistantCrawlController(Controller):
    path = "/api/assistants/{assistant_id:str}/webcrawl"
    tags = ["assistants"]

    @post(
        "/start",
        status_code=202,
        media_type=MediaType.JSON,
        summary="Start a web crawl of the assistant's URLs",
        description="Answers the run id (a JSON string), as the original route does.",
        responses=problems(400, *AUTHENTICATED, 404, 413, 422, 503),
        response_headers=answer_headers({"Location": "The run's URL"}),
    )
    async def start(
        self,
        *,
        assistant_id: FromPath[str],
        data: JSONBody[StartWebCrawlRequest],
        principal: NamedDependency[Principal],
        settings: NamedDependency[ApiSettings],
        submitter: NamedDependency[Submitter],
        runs: NamedDependency[Runs],
    ) -> Response[RunId]:
        assistant = assistant_config(settings, assistant_id, principal)
        run_id = str(uuid.uuid4())
        bypass = tuple(data.bypass_robots_txt_check_domains)
        job_ids = []
        for url in assistant.urls:
            request = assistant_request(assistant, url, bypass)
            job_ids.append((url, (await submitter.submit(principal, request)).job_id))
        await runs.insert_one(
            assistant_run(
                run_id,
                assistant_id=assistant_id,
                tenant=principal.tenant,
                created_by=principal.user,
                created_at=utcnow(),
                jobs=job_ids,
            )
        )
        return Response(
            RunId(run_id),
            status_code=202,
            headers={"Location": f"/api/assistants/{assistant_id}/webcrawl/history/{run_id}"},
        )

    @get(
        "/history",
        summary="Runs of the assistant, newest first",
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404, 422),
    )
    async def history(
        self,
        *,
        assistant_id: FromPath[str],
        principal: NamedDependency[Principal],
        settings: NamedDependency[ApiSettings],
        store: NamedDependency[JobStore],
        runs: NamedDependency[Runs],
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> list[WebCrawlRun]:
        assistant_config(settings, assistant_id, principal)
        query = assistant_runs(principal.tenant, assistant_id)
        found = await runs.find(query.filter).sort(query.sort).limit(limit).to_list()
        jobs = await _jobs(store, principal.tenant, found)  # one read for all their jobs
        return [_run_view(run, jobs) for run in found]

    @get(
        "/history/{run_id:str}",
        summary="One run of the assistant",
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404),
    )
    async def run(
        self,
        *,
        assistant_id: FromPath[str],
        run_id: FromPath[str],
        principal: NamedDependency[Principal],
        settings: NamedDependency[ApiSettings],
        store: NamedDependency[JobStore],
        runs: NamedDependency[Runs],
    ) -> WebCrawlRun:
        assistant_config(settings, assistant_id, principal)
        run = await _run(runs, assistant_id, run_id, principal)
        return _run_view(run, await _jobs(store, principal.tenant, [run]))

    @post(
        "/history/{run_id:str}/cancel",
        status_code=202,
        summary="Cancel a run",
        operation_class=ProblemOperation,
        responses=problems(*AUTHENTICATED, 404, 409, 503),
    )
    async def cancel(
        self,
        *,
        assistant_id: FromPath[str],
        run_id: FromPath[str],
        principal: NamedDependency[Principal],
        settings: NamedDependency[ApiSettings],
        store: NamedDependency[JobStore],
        runs: NamedDependency[Runs],
        canceller: NamedDependency[Canceller],
    ) -> WebCrawlRun:
        assistant_config(settings, assistant_id, principal)
        run = await _run(runs, assistant_id, run_id, principal)
        view = _run_view(run, await _jobs(store, principal.tenant, [run]))
        unfinished = [u for u in view.urls if u.status in ("Pending", "Processing")]
        if not unfinished:
            raise Conflict(f"run {run_id} has already finished ({view.status})")
        for url_run in unfinished:
            await canceller.publish(principal, url_run.jobId)
        return view


def assistant_config(
    settings: ApiSettings, assistant_id: str, principal: Principal
) -> AssistantConfig:
    """The caller's assistant ``assistant_id`` (another tenant's is a 404)."""
    assistant = settings.assistants.get(assistant_id)
    if assistant is None or assistant.tenant != principal.tenant:
        raise NotFound(f"no assistant {assistant_id}")
    return assistant


def assistant_request(
    assistant: AssistantConfig, url: str, bypass: tuple[str, ...]
) -> CrawlRequest:
    """The crawl of one of the assistant's start URLs, with its settings."""
    return CrawlRequest(
        url=url,
        max_pages=assistant.max_pages,
        max_depth=assistant.max_depth,
        bypass_robots_domains=bypass,
        render=assistant.render,
    )


async def _run(runs: Runs, assistant_id: str, run_id: str, principal: Principal) -> dict[str, Any]:
    run: dict[str, Any] | None = await runs.find_one(
        {"_id": run_id, "assistant_id": assistant_id, "tenant": principal.tenant}
    )
    if run is None:
        raise NotFound(f"no run {run_id} of assistant {assistant_id}")
    return run


async def _jobs(
    store: JobStore, tenant: str, runs: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The job summaries of ``runs``, by id."""
    return await store.summaries([job["job_id"] for run in runs for job in run["jobs"]], tenant)


def _run_view(run: dict[str, Any], jobs: dict[str, dict[str, Any]]) -> WebCrawlRun:
    ids = [j["job_id"] for j in run["jobs"]]
    docs = {job_id: jobs[job_id] for job_id in ids if job_id in jobs}
    urls = []
    for job in run["jobs"]:
        doc = docs.get(job["job_id"]) or {"status": "pending", "counters": {}}
        counters = doc.get("counters") or {}
        urls.append(
            UrlRun(
                url=job["url"],
                jobId=job["job_id"],
                status=_SEED_STATUS[JobStatus(doc["status"])],
                # a re-crawl's unchanged pages were fetched too (answered 304 or the same)
                pagesFetched=int(counters.get("fetched", 0)) + int(counters.get("unchanged", 0)),
                pagesFailed=int(counters.get("failed", 0)),
                pagesSkipped=int(counters.get("skipped", 0)),
            )
        )
    found = list(docs.values())
    finished: list[datetime] = [d["finished_at"] for d in found if d.get("finished_at")]
    activity: list[datetime] = [d["last_activity_at"] for d in found if d.get("last_activity_at")]
    status = seed_status([str(docs[i]["status"]) if i in docs else "pending" for i in ids])
    return WebCrawlRun(
        id=run["_id"],
        assistantId=run["assistant_id"],
        status=status,
        createdAtUtc=iso(run.get("created_at")),
        lastActivityAtUtc=iso(max(activity)) if activity else iso(run.get("created_at")),
        completedAtUtc=(
            iso(max(finished)) if status in ("Completed", "Error", "Cancelled") else None
        ),
        createdByUserId=run.get("created_by"),
        urls=urls,
    )
