"""Rendering one page: a tab of its job's browser context, every request routed, the DOM
serialised.

The page's document is answered with the crawler's bytes; each other request is decided by
:func:`crawl_renderer.decisions.decide` and, when fetched, fetched by
:class:`crawl_renderer.subrequests.Subrequests` (address policy, politeness, size cap).
WebSockets are never connected. The page waits for ``load``, then until none of its requests
has been in flight for ``quiet_window``, counted from ``load`` at the earliest (the renderer
answers every request the page makes, so it counts them itself: no guessing from the
browser's network events), at most ``idle_wait``, all within the page's time limit; then its
DOM is serialised (``page.content()``). Refused requests travel back in the reply, for the
job's log.

``render`` never raises for a page that could not be rendered: the reply carries the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import httpx
import structlog
from playwright.async_api import (
    Error as PlaywrightError,
)
from playwright.async_api import (
    Request,
    Route,
    WebSocketRoute,
)

from crawl_contracts import BlockedRequest, PageRendered, RenderRequested
from crawl_politeness import HostGate
from crawl_renderer.browser import BrowserPool
from crawl_renderer.decisions import Action, decide
from crawl_renderer.subrequests import RefusedError, Subrequests

__all__ = ["MAX_BLOCKED", "PageLimits", "PageRenderer"]

log = structlog.get_logger("crawl_renderer.render")

MAX_BLOCKED: Final = 50  # refused requests listed in one reply (all are counted)


@dataclass(frozen=True, slots=True)
class PageLimits:
    timeout: float = 15.0
    idle_wait: float = 2.0
    quiet_window: float = 0.1
    max_requests: int = 200
    max_html_bytes: int = 10 * 1024 * 1024


@dataclass(slots=True)
class _Page:
    """What one page's routing has seen so far."""

    request: RenderRequested
    gate: HostGate
    document_served: bool = False
    requests: int = 0
    blocked: list[BlockedRequest] = field(default_factory=list)
    refused: int = 0
    closing: bool = False
    in_flight: int = 0
    quiet_since: float = field(default_factory=time.monotonic)

    def started(self) -> None:
        self.in_flight += 1

    def finished(self) -> None:
        self.in_flight -= 1
        self.quiet_since = time.monotonic()

    async def quiet(self, window: float, limit: float) -> None:
        """Until no request has been in flight for ``window`` seconds, at most ``limit``."""
        deadline = time.monotonic() + limit
        while (now := time.monotonic()) < deadline:
            if self.in_flight == 0 and now - self.quiet_since >= window:
                return
            wait = window - (now - self.quiet_since) if self.in_flight == 0 else 0.02
            await asyncio.sleep(max(0.005, min(wait, deadline - now)))

    def block(self, url: str, reason: str) -> None:
        self.refused += 1
        if len(self.blocked) < MAX_BLOCKED:
            self.blocked.append(BlockedRequest(url=url[:2000], reason=reason[:500]))
        # Bound by hand: routing runs in Playwright's tasks, outside the message's context.
        log.info(
            "render.blocked",
            url=url[:500],
            reason=reason[:300],
            job_id=self.request.job_id,
            tenant=self.request.tenant,
        )


class PageRenderer:
    """Renders pages in the pool's browser, fetching their requests with ``subrequests``."""

    def __init__(
        self,
        pool: BrowserPool,
        subrequests: Subrequests,
        limits: PageLimits,
        *,
        renderer_id: str | None = None,
    ) -> None:
        self._pool = pool
        self._subrequests = subrequests
        self._limits = limits
        self._renderer_id = renderer_id

    async def render(self, request: RenderRequested, gate: HostGate) -> PageRendered:
        started = time.monotonic()
        left = (request.deadline - datetime.now(UTC)).total_seconds()
        limit = min(self._limits.timeout, left)
        page = _Page(request, gate)
        html: str | None = None
        error: str | None = None
        if limit <= 0:
            error = "the request was past its deadline"
        else:
            try:
                html = await self._render(page, limit)
            except TimeoutError:
                error = f"rendering took longer than {limit:.1f} s"
            except PlaywrightError as exc:
                error = f"browser error: {_first_line(exc.message)}"
        if html is not None and len(html.encode()) > self._limits.max_html_bytes:
            html, error = None, f"rendered page larger than {self._limits.max_html_bytes} bytes"
        if page.refused > len(page.blocked):
            page.blocked.append(
                BlockedRequest(url="(more)", reason=f"{page.refused - len(page.blocked)} more")
            )
        return PageRendered(
            job_id=request.job_id,
            url=request.url,
            html=html,
            error=error,
            blocked=tuple(page.blocked),
            requests=page.requests,
            seconds=round(time.monotonic() - started, 3),
            renderer_id=self._renderer_id,
        )

    async def _render(self, page: _Page, limit: float) -> str:
        deadline = time.monotonic() + limit
        # Job ids are unique across tenants: one key per job, never shared by two.
        async with self._pool.tab(page.request.job_id) as lease:
            lease.handle(lambda r, q: self._route(page, r, q), lambda ws: self._websocket(page, ws))
            tab = lease.page
            try:
                async with asyncio.timeout(limit):
                    tab.set_default_timeout(limit * 1000)
                    await tab.goto(page.request.url, wait_until="load")
                    # Quiet counts from the later of `load` and the last request's end: a
                    # request a script starts at load reaches the router a moment later.
                    page.quiet_since = max(page.quiet_since, time.monotonic())
                    idle = min(self._limits.idle_wait, deadline - time.monotonic())
                    if idle > 0:
                        await page.quiet(self._limits.quiet_window, idle)
                    return await tab.content()
            except PlaywrightError:
                lease.discard()  # a context whose page failed in the browser is not reused
                raise
            finally:
                page.closing = True

    async def _route(self, page: _Page, route: Route, request: Request) -> None:
        try:
            await self._answer(page, route, request)
        except PlaywrightError as exc:  # the page went away meanwhile
            log.debug("render.route_gone", url=request.url[:300], error=_first_line(exc.message))

    async def _answer(self, page: _Page, route: Route, request: Request) -> None:
        decision = decide(
            url=request.url,
            resource_type=request.resource_type,
            main_frame_navigation=request.is_navigation_request() and _in_main_frame(request),
            document_served=page.document_served,
            requests_so_far=page.requests,
            max_requests=self._limits.max_requests,
        )
        match decision.action:
            case Action.DOCUMENT:
                page.document_served = True
                page.started()
                try:
                    await route.fulfill(
                        status=200,
                        body=page.request.body,
                        content_type=_document_type(page.request),
                    )
                finally:
                    page.finished()
            case Action.SKIP:
                await route.abort("blockedbyclient")
            case Action.BLOCK:
                page.block(request.url, decision.reason or "blocked")
                await route.abort("blockedbyclient")
            case Action.FETCH:
                page.requests += 1
                page.started()
                try:
                    await self._fetched(page, route, request)
                finally:
                    page.finished()

    async def _fetched(self, page: _Page, route: Route, request: Request) -> None:
        try:
            async with asyncio.timeout(self._limits.timeout):
                answer = await self._subrequests.fetch(
                    request.method,
                    request.url,
                    await request.all_headers(),
                    request.post_data_buffer,
                    page.gate,
                )
        except RefusedError as exc:
            if not page.closing:
                page.block(request.url, exc.reason)
            await route.abort("blockedbyclient")
            return
        except (httpx.HTTPError, TimeoutError) as exc:
            log.info("render.request_failed", url=request.url[:300], error=str(exc)[:300])
            await route.abort("failed")
            return
        await route.fulfill(status=answer.status, headers=answer.headers, body=answer.body)

    async def _websocket(self, page: _Page, socket: WebSocketRoute) -> None:
        # Never connect_to_server(): the page's socket talks to nobody.
        page.block(socket.url, "websockets are not allowed")
        with contextlib.suppress(PlaywrightError):
            await socket.close(code=1008, reason="not allowed")


def _in_main_frame(request: Request) -> bool:
    try:
        return request.frame.parent_frame is None
    except PlaywrightError:  # a service worker's request has no frame
        return False


def _document_type(request: RenderRequested) -> str:
    """The document's type as served to the browser: UTF-8 stated when the bytes are UTF-8
    (the crawler sends the media type only; without a charset the browser guesses
    windows-1252 unless the page says otherwise)."""
    if "charset" in request.content_type.lower():
        return request.content_type
    try:
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        return request.content_type
    return f"{request.content_type}; charset=utf-8"


def _first_line(message: str) -> str:
    return (message or "").strip().splitlines()[0][:300] if (message or "").strip() else "error"
