"""``/dashboard``: the operators' HTML pages, their live fragments, sign-in and cancel.

Sign-in takes the same bearer tokens as the API and keeps the token in an HttpOnly,
SameSite=Strict cookie scoped to ``/dashboard``; a request may also carry the usual
``Authorization`` header. Every read is scoped to the signed-in principal's tenant. The
cancel endpoint requires an ``X-Requested-With`` header, which a cross-site form cannot send.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter, URLEncodedBody
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from pydantic import ValidationError

from crawl_api.auth import Authenticator, Principal
from crawl_api.cancel import Canceller
from crawl_api.dashboard import scheduleviews, views
from crawl_api.dashboard.commands import dead_letter_counts
from crawl_api.dashboard.reads import DashboardReads
from crawl_api.errors import ApiProblem, NotFound, Unauthorized
from crawl_api.publisher import CommandPublisher
from crawl_api.schedules import ScheduleRun, ScheduleView, runs_of, schedule_view
from crawl_api.schedulestore import ScheduleStore
from crawl_api.store import JobStore
from crawl_api.submission import Submitter
from crawl_contracts import CrawlRequest

__all__ = ["COOKIE", "DashboardController", "dashboard_routes"]

COOKIE = "crawl_dashboard_token"
_PAGE_SIZE = 50
_SCHEDULES_SHOWN = 50
_RUNS_SHOWN = 5
_Req = Request[Any, Any, Any]
_Authenticator = NamedDependency[Authenticator]
_Reads = NamedDependency[DashboardReads]
_Query = FromQuery[str | None]


def _principal(request: _Req, authenticator: Authenticator) -> Principal | None:
    """The signed-in principal, by the API's own authenticator: static keys, JWTs and the
    e-mail domain policy alike."""
    token = request.cookies.get(COOKIE)
    header = request.headers.get("authorization")
    try:
        if header:
            return authenticator.authenticate(request)
        if token:
            return authenticator.authenticate_token(token)
    except Unauthorized:
        return None
    return None


def _require(request: _Req, authenticator: Authenticator) -> Principal:
    principal = _principal(request, authenticator)
    if principal is None:
        raise Unauthorized("sign in at /dashboard/login")
    return principal


def _html(body: str, status_code: int = 200) -> Response[str]:
    return Response(
        body,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


def _to_login(request: _Req) -> Redirect:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"{views.BASE}/login?next={quote(target)}")


def _safe_next(value: str | None) -> str:
    """Only local dashboard paths: the sign-in form is no open redirect."""
    if value and value.startswith(f"{views.BASE}") and not value.startswith("//"):
        return value
    return views.BASE


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value else None


async def _run_fragment(
    reads: DashboardReads,
    run: dict[str, Any],
    outcome: str | None,
    reason: str | None,
    cursor: str | None,
) -> str:
    job_id = str(run["_id"])
    after = int(cursor) if cursor and cursor.isdigit() else None
    pages = await reads.page_list(
        job_id, outcome=outcome, reason=reason, after=after, limit=_PAGE_SIZE
    )
    query = {k: v for k, v in (("outcome", outcome), ("reason", reason)) if v}
    return views.run_fragment(
        run,
        rates=await reads.rates(run),
        logs=await reads.log_tail(job_id),
        pages=pages,
        next_cursor=str(pages[-1]["order"]) if len(pages) == _PAGE_SIZE else None,
        query=query,
    )


class DashboardController(Controller):
    path = views.BASE
    include_in_schema = False

    @get("/login")
    async def login_form(
        self, next_url: Annotated[str | None, QueryParameter(name="next")] = None
    ) -> Response[str]:
        return _html(views.login_page(next_url=_safe_next(next_url)))

    @post("/login", status_code=303)
    async def login(
        self, request: _Req, authenticator: _Authenticator, data: URLEncodedBody[dict[str, str]]
    ) -> Response[Any]:
        token = (data.get("token") or "").strip()
        try:
            authenticator.authenticate_token(token)
        except Unauthorized:
            return _html(views.login_page("That token is not valid.", data.get("next") or ""), 401)
        return Redirect(
            _safe_next(data.get("next")),
            status_code=303,
            cookies=[
                Cookie(
                    key=COOKIE,
                    value=token,
                    path=views.BASE,
                    httponly=True,
                    samesite="strict",
                    secure=request.url.scheme == "https",
                )
            ],
        )

    @post("/logout", status_code=303)
    async def logout(self) -> Redirect:
        return Redirect(
            f"{views.BASE}/login",
            status_code=303,
            cookies=[Cookie(key=COOKIE, value="", path=views.BASE, max_age=0, httponly=True)],
        )

    @get("/")
    async def runs(
        self,
        request: _Req,
        authenticator: _Authenticator,
        dashboard_reads: _Reads,
        status: _Query = None,
        host: _Query = None,
    ) -> Response[Any]:
        principal = _principal(request, authenticator)
        if principal is None:
            return _to_login(request)
        status, host = _blank(status), _blank(host)
        runs = await dashboard_reads.runs(principal.tenant, status=status, host=host)
        return _html(views.runs_page(runs, tenant=principal.tenant, status=status, host=host))

    @post("/runs", status_code=303)
    async def submit(
        self,
        request: _Req,
        authenticator: _Authenticator,
        dashboard_reads: _Reads,
        submitter: NamedDependency[Submitter],
        data: URLEncodedBody[dict[str, str]],
    ) -> Response[Any]:
        principal = _principal(request, authenticator)
        if principal is None:
            return _to_login(request)
        try:
            crawl = CrawlRequest(
                url=data.get("url", ""),
                max_pages=int(data.get("max_pages") or 100),
                max_depth=int(data.get("max_depth") or 3),
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            runs = await dashboard_reads.runs(principal.tenant)
            page = views.runs_page(
                runs, tenant=principal.tenant, status=None, host=None, error=_first_error(exc)
            )
            return _html(page, 422)
        # The REST route's own path: tenant cap, pending record, confirmed publish, 503.
        job_id = (await submitter.submit(principal, crawl)).job_id
        return Redirect(f"{views.BASE}/runs/{quote(job_id)}", status_code=303)

    @get("/fragments/runs")
    async def runs_live(
        self,
        request: _Req,
        authenticator: _Authenticator,
        dashboard_reads: _Reads,
        status: _Query = None,
        host: _Query = None,
    ) -> Response[str]:
        principal = _require(request, authenticator)
        runs = await dashboard_reads.runs(
            principal.tenant, status=_blank(status), host=_blank(host)
        )
        return _html(views.runs_fragment(runs))

    @get("/runs/{job_id:str}")
    async def run(
        self,
        *,
        request: _Req,
        authenticator: _Authenticator,
        dashboard_reads: _Reads,
        job_id: FromPath[str],
        outcome: _Query = None,
        reason: _Query = None,
        cursor: _Query = None,
    ) -> Response[Any]:
        principal = _principal(request, authenticator)
        if principal is None:
            return _to_login(request)
        run = await dashboard_reads.run(principal.tenant, job_id)
        if run is None:
            return _html(views.login_page(f"No run {job_id} for your tenant."), 404)
        outcome, reason, cursor = _blank(outcome), _blank(reason), _blank(cursor)
        fragment = await _run_fragment(dashboard_reads, run, outcome, reason, cursor)
        query = {
            k: v for k, v in (("outcome", outcome), ("reason", reason), ("cursor", cursor)) if v
        }
        return _html(
            views.run_page(
                run,
                fragment,
                tenant=principal.tenant,
                reasons=await dashboard_reads.reasons(job_id),
                outcome=outcome,
                reason=reason,
                query=query,
            )
        )

    @get("/fragments/runs/{job_id:str}")
    async def run_live(
        self,
        *,
        request: _Req,
        authenticator: _Authenticator,
        dashboard_reads: _Reads,
        job_id: FromPath[str],
        outcome: _Query = None,
        reason: _Query = None,
        cursor: _Query = None,
    ) -> Response[str]:
        principal = _require(request, authenticator)
        run = await dashboard_reads.run(principal.tenant, job_id)
        if run is None:
            raise NotFound(f"no crawl {job_id}")
        return _html(
            await _run_fragment(
                dashboard_reads, run, _blank(outcome), _blank(reason), _blank(cursor)
            )
        )

    @get("/runs/{job_id:str}/pages/{key:str}")
    async def page_text(
        self,
        request: _Req,
        authenticator: _Authenticator,
        dashboard_reads: _Reads,
        job_id: FromPath[str],
        key: FromPath[str],
    ) -> Response[Any]:
        principal = _principal(request, authenticator)
        if principal is None:
            return _to_login(request)
        run = await dashboard_reads.run(principal.tenant, job_id)
        page = await dashboard_reads.page(job_id, key) if run is not None else None
        if run is None or page is None:
            raise NotFound(f"no page {key} in crawl {job_id}")
        return _html(views.page_text_page(run, page, tenant=principal.tenant))

    @post("/runs/{job_id:str}/cancel", status_code=202)
    async def cancel(
        self,
        request: _Req,
        authenticator: _Authenticator,
        canceller: NamedDependency[Canceller],
        job_id: FromPath[str],
    ) -> dict[str, str]:
        principal = _require(request, authenticator)
        if not request.headers.get("x-requested-with"):
            raise ApiProblem("the X-Requested-With header is required")
        # The REST route's own path: 404 for another tenant's job, 409 once finished, 503.
        accepted = await canceller.cancel(principal, job_id)
        return accepted.model_dump()

    @get("/schedules")
    async def schedules(
        self,
        request: _Req,
        authenticator: _Authenticator,
        schedules: NamedDependency[ScheduleStore],
        store: NamedDependency[JobStore],
    ) -> Response[Any]:
        principal = _principal(request, authenticator)
        if principal is None:
            return _to_login(request)
        listed = await _schedules(schedules, store, principal)
        return _html(scheduleviews.schedules_page(listed, tenant=principal.tenant))

    @get("/fragments/schedules")
    async def schedules_live(
        self,
        request: _Req,
        authenticator: _Authenticator,
        schedules: NamedDependency[ScheduleStore],
        store: NamedDependency[JobStore],
    ) -> Response[str]:
        principal = _require(request, authenticator)
        listed = await _schedules(schedules, store, principal)
        return _html(scheduleviews.schedules_fragment(listed))

    @get("/overview")
    async def overview(
        self,
        request: _Req,
        authenticator: _Authenticator,
        dashboard_reads: _Reads,
        publisher: NamedDependency[CommandPublisher],
    ) -> Response[Any]:
        principal = _principal(request, authenticator)
        if principal is None:
            return _to_login(request)
        fragment = await _overview_fragment(dashboard_reads, publisher, principal)
        return _html(views.overview_page(fragment, tenant=principal.tenant))

    @get("/fragments/overview")
    async def overview_live(
        self,
        request: _Req,
        authenticator: _Authenticator,
        dashboard_reads: _Reads,
        publisher: NamedDependency[CommandPublisher],
    ) -> Response[str]:
        principal = _require(request, authenticator)
        return _html(await _overview_fragment(dashboard_reads, publisher, principal))


async def _schedules(
    schedules: ScheduleStore, store: JobStore, principal: Principal
) -> list[tuple[ScheduleView, list[ScheduleRun]]]:
    """The tenant's newest schedules, each with its latest runs (a read per schedule)."""
    docs = await schedules.page(principal.tenant, before=None, limit=_SCHEDULES_SHOWN)
    return [
        (
            schedule_view(doc),
            await runs_of(schedules, store, doc, principal.tenant, before=None, limit=_RUNS_SHOWN),
        )
        for doc in docs
    ]


async def _overview_fragment(
    reads: DashboardReads, publisher: CommandPublisher, principal: Principal
) -> str:
    overview = await reads.overview(principal.tenant)
    return views.overview_fragment(overview, await dead_letter_counts(publisher))


def _first_error(exc: ValueError) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        return f"{where}: {error['msg']}" if where else str(error["msg"])
    return str(exc)


def dashboard_routes() -> list[ControllerRouterHandler]:
    """The controller and its static files (CSS, JavaScript), to add to the app's handlers."""
    static = create_static_files_router(
        path=f"{views.BASE}/static",
        directories=[Path(__file__).parent / "static"],
        include_in_schema=False,
    )
    return [DashboardController, static]
