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
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from pydantic import ValidationError

from crawl_api.auth import Authenticator, Principal
from crawl_api.cancel import publish_cancel
from crawl_api.dashboard import views
from crawl_api.dashboard.commands import dead_letter_counts
from crawl_api.dashboard.reads import DashboardReads
from crawl_api.errors import ApiProblem, Conflict, NotFound, Unauthorized
from crawl_api.submission import Submitter
from crawl_contracts import TERMINAL_STATUSES, CrawlRequest, JobStatus

__all__ = ["COOKIE", "DashboardController", "dashboard_routes"]

COOKIE = "crawl_dashboard_token"
_PAGE_SIZE = 50
_Req = Request[Any, Any, Any]


def _principal(request: _Req) -> Principal | None:
    token = request.cookies.get(COOKIE)
    header = request.headers.get("authorization")
    # The API's own authenticator: static keys, JWTs and the e-mail domain policy alike.
    authenticator: Authenticator = request.app.state.authenticator
    try:
        if header:
            return authenticator.authenticate(request)
        if token:
            return authenticator.authenticate_token(token)
    except Unauthorized:
        return None
    return None


def _require(request: _Req) -> Principal:
    principal = _principal(request)
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


def _reads(state: State) -> DashboardReads:
    return DashboardReads(state.mongo[state.settings.mongodb_database])


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
        self, next_url: Annotated[str | None, Parameter(query="next")] = None
    ) -> Response[str]:
        return _html(views.login_page(next_url=_safe_next(next_url)))

    @post("/login", status_code=303)
    async def login(
        self,
        request: _Req,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[Any]:
        token = (data.get("token") or "").strip()
        authenticator: Authenticator = request.app.state.authenticator
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
        state: State,
        status: str | None = None,
        host: str | None = None,
    ) -> Response[Any]:
        principal = _principal(request)
        if principal is None:
            return _to_login(request)
        status, host = _blank(status), _blank(host)
        runs = await _reads(state).runs(principal.tenant, status=status, host=host)
        return _html(views.runs_page(runs, tenant=principal.tenant, status=status, host=host))

    @post("/runs", status_code=303)
    async def submit(
        self,
        request: _Req,
        state: State,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[Any]:
        principal = _principal(request)
        if principal is None:
            return _to_login(request)
        try:
            crawl = CrawlRequest(
                url=data.get("url", ""),
                max_pages=int(data.get("max_pages") or 100),
                max_depth=int(data.get("max_depth") or 3),
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            runs = await _reads(state).runs(principal.tenant)
            page = views.runs_page(
                runs, tenant=principal.tenant, status=None, host=None, error=_first_error(exc)
            )
            return _html(page, 422)
        # The REST route's own path: tenant cap, pending record, confirmed publish, 503.
        submitter: Submitter = state.submitter
        job_id = (await submitter.submit(principal, crawl)).job_id
        return Redirect(f"{views.BASE}/runs/{quote(job_id)}", status_code=303)

    @get("/fragments/runs")
    async def runs_live(
        self, request: _Req, state: State, status: str | None = None, host: str | None = None
    ) -> Response[str]:
        principal = _require(request)
        runs = await _reads(state).runs(principal.tenant, status=_blank(status), host=_blank(host))
        return _html(views.runs_fragment(runs))

    @get("/runs/{job_id:str}")
    async def run(
        self,
        *,
        request: _Req,
        state: State,
        job_id: str,
        outcome: str | None = None,
        reason: str | None = None,
        cursor: str | None = None,
    ) -> Response[Any]:
        principal = _principal(request)
        if principal is None:
            return _to_login(request)
        reads = _reads(state)
        run = await reads.run(principal.tenant, job_id)
        if run is None:
            return _html(views.login_page(f"No run {job_id} for your tenant."), 404)
        outcome, reason, cursor = _blank(outcome), _blank(reason), _blank(cursor)
        fragment = await _run_fragment(reads, run, outcome, reason, cursor)
        query = {
            k: v for k, v in (("outcome", outcome), ("reason", reason), ("cursor", cursor)) if v
        }
        return _html(
            views.run_page(
                run,
                fragment,
                tenant=principal.tenant,
                reasons=await reads.reasons(job_id),
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
        state: State,
        job_id: str,
        outcome: str | None = None,
        reason: str | None = None,
        cursor: str | None = None,
    ) -> Response[str]:
        principal = _require(request)
        reads = _reads(state)
        run = await reads.run(principal.tenant, job_id)
        if run is None:
            raise NotFound(f"no crawl {job_id}")
        return _html(
            await _run_fragment(reads, run, _blank(outcome), _blank(reason), _blank(cursor))
        )

    @get("/runs/{job_id:str}/pages/{key:str}")
    async def page_text(self, request: _Req, state: State, job_id: str, key: str) -> Response[Any]:
        principal = _principal(request)
        if principal is None:
            return _to_login(request)
        reads = _reads(state)
        run = await reads.run(principal.tenant, job_id)
        page = await reads.page(job_id, key) if run is not None else None
        if run is None or page is None:
            raise NotFound(f"no page {key} in crawl {job_id}")
        return _html(views.page_text_page(run, page, tenant=principal.tenant))

    @post("/runs/{job_id:str}/cancel", status_code=202)
    async def cancel(self, request: _Req, state: State, job_id: str) -> dict[str, str]:
        principal = _require(request)
        if not request.headers.get("x-requested-with"):
            raise ApiProblem("the X-Requested-With header is required")
        run = await _reads(state).run(principal.tenant, job_id)
        if run is None:
            raise NotFound(f"no crawl {job_id}")
        if JobStatus(run["status"]) in TERMINAL_STATUSES:
            raise Conflict(f"crawl {job_id} is already {run['status']}")
        await publish_cancel(state.publisher, principal, job_id, attempt=int(run.get("attempt", 1)))
        return {"id": job_id, "status": JobStatus.CANCELLING.value}

    @get("/overview")
    async def overview(self, request: _Req, state: State) -> Response[Any]:
        principal = _principal(request)
        if principal is None:
            return _to_login(request)
        fragment = await _overview_fragment(state, principal)
        return _html(views.overview_page(fragment, tenant=principal.tenant))

    @get("/fragments/overview")
    async def overview_live(self, request: _Req, state: State) -> Response[str]:
        return _html(await _overview_fragment(state, _require(request)))


async def _overview_fragment(state: State, principal: Principal) -> str:
    overview = await _reads(state).overview(principal.tenant)
    return views.overview_fragment(overview, await dead_letter_counts(state.publisher))


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
