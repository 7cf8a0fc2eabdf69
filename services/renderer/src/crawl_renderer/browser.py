"""One headless Chromium per process, replaced after a number of pages; one browser context
per job, reused for a number of its pages, and its tabs reused from page to page.

**Contexts.** The pages of one job share a browser context, as one visitor browsing the site
would (its cookies and storage carry from page to page); pages of two jobs never do, so
nothing of one tenant's crawl is seen by another's. A context is retired after
``pages_per_context`` pages (the next page of the job gets a fresh one), closed once it has
been idle ``context_idle`` seconds (a sweeper looks every second), and at most
``max_idle_contexts`` idle contexts are kept (the least recently used go first). A context
whose page failed in the browser is retired at once. Creating a context costs more than
rendering a small page, which is why they are reused (``bench/render/variants.py``).

**Tabs.** A page is rendered in one of its context's idle tabs (a new one when none is idle):
a tab already showing the site keeps its renderer process, so the next page costs a
navigation, not a process. A tab's routes are set once; they hand each request to the page
the tab renders now, and refuse it when it renders none (the last page's document, still
loaded in an idle tab, gets nothing more). A tab whose page ended in any error (time limit,
cancel, browser error) is closed instead of kept. Idle tabs are not navigated to
``about:blank``: that costs a renderer process per page, as much as a new tab, and the next
page's navigation replaces the document anyway (within the same job's context, so a request
the old document makes meanwhile still passes that job's address policy and politeness).

**Browsers.** The browser is replaced every ``pages_per_browser`` pages: the new one takes
the next pages at once, the old one (with its contexts) is closed when its last page is
done. Memory a long-lived browser gathers (caches, fragmentation) stays bounded that way. A
browser that died is replaced at the next page.

The browser is launched so it cannot reach the network on its own: every request it makes is
answered by the renderer (``render``), name resolution maps every host to nothing
(``--host-resolver-rules``), and anything that would still try (pre-connects, WebRTC) meets a
proxy that does not exist. Each context also aborts every request no page of it claims (a
page's own routes answer its requests; a worker's request, say, falls through to the
context's route and is refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Request,
    Route,
    WebSocketRoute,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

__all__ = ["LAUNCH_FLAGS", "BrowserPool", "RequestHandler", "TabLease", "WebSocketHandler"]

log = structlog.get_logger("crawl_renderer.browser")

LAUNCH_FLAGS = (
    "--no-sandbox",  # the renderer runs as an unprivileged user in its own container/process
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--dns-prefetch-disable",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)


RequestHandler = Callable[[Route, Request], Awaitable[None]]
WebSocketHandler = Callable[[WebSocketRoute], Awaitable[None]]


@dataclass(eq=False, slots=True)
class _Tab:
    """A tab and the page it renders now (``None``: it renders none, its requests are refused)."""

    page: Page
    on_request: RequestHandler | None = None
    on_websocket: WebSocketHandler | None = None

    async def request(self, route: Route, request: Request) -> None:
        handler = self.on_request
        await (handler(route, request) if handler is not None else _unclaimed(route, request))

    async def websocket(self, socket: WebSocketRoute) -> None:
        handler = self.on_websocket
        if handler is not None:
            await handler(socket)
        else:
            with contextlib.suppress(PlaywrightError):
                await socket.close(code=1008, reason="not allowed")


@dataclass(eq=False, slots=True)
class _Context:
    key: str
    context: BrowserContext
    used: int = 0
    active: int = 0
    idle_since: float = field(default_factory=time.monotonic)
    retired: bool = False
    tabs: list[_Tab] = field(default_factory=list)  # idle ones


@dataclass(eq=False, slots=True)
class _Generation:
    browser: Browser
    used: int = 0
    active: int = 0
    contexts: dict[str, _Context] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class TabLease:
    """One page's hold on a tab of its job's context."""

    _tab: _Tab
    _entry: _Context

    @property
    def page(self) -> Page:
        return self._tab.page

    def handle(self, on_request: RequestHandler, on_websocket: WebSocketHandler) -> None:
        """Answer the tab's requests and sockets with these, until the lease ends."""
        self._tab.on_request = on_request
        self._tab.on_websocket = on_websocket

    def discard(self) -> None:
        """The context is not to be used again (its page failed in the browser)."""
        self._entry.retired = True


class BrowserPool:
    """Lends each page its job's context in the current browser."""

    def __init__(
        self,
        executable_path: str,
        pages_per_browser: int,
        *,
        pages_per_context: int = 50,
        context_idle: float = 10.0,
        max_idle_contexts: int = 8,
        context_options: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._executable_path = executable_path
        self._pages_per_browser = pages_per_browser
        self._pages_per_context = pages_per_context
        self._context_idle = context_idle
        self._max_idle = max_idle_contexts
        self._context_options = {
            "service_workers": "block",
            "accept_downloads": False,
            **(context_options or {}),
        }
        self._clock = clock
        self._playwright: Playwright | None = None
        self._current: _Generation | None = None
        self._lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None
        self.launched = 0  # browsers launched so far (the first one included)
        self.contexts_created = 0
        self.tabs_created = 0

    async def start(self) -> None:
        """Start Playwright and the first browser (fails if Chromium cannot be launched)."""
        self._playwright = await async_playwright().start()
        async with self._lock:
            self._current = _Generation(await self._launch())
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="context-sweeper")

    async def ready(self) -> bool:
        current = self._current
        sweeping = self._sweeper is not None and not self._sweeper.done()
        return current is not None and current.browser.is_connected() and sweeping

    @property
    def open_contexts(self) -> int:
        current = self._current
        return 0 if current is None else len(current.contexts)

    @contextlib.asynccontextmanager
    async def tab(self, key: str) -> AsyncIterator[TabLease]:
        """A tab of job ``key``'s context in the current browser, held for one page."""
        generation, entry = await self._lease(key)
        tab: _Tab | None = None
        healthy = False
        try:
            tab = entry.tabs.pop() if entry.tabs else await self._new_tab(entry.context)
            yield TabLease(tab, entry)
            healthy = True
        finally:
            if tab is not None:
                tab.on_request = tab.on_websocket = None
                if healthy and not entry.retired:
                    entry.tabs.append(tab)
                else:
                    await _close_tab(tab)
            entry.active -= 1
            entry.idle_since = self._clock()
            generation.active -= 1
            if generation is not self._current:
                if generation.active == 0:
                    await _close(generation.browser)
            elif entry.retired and entry.active == 0:
                if generation.contexts.get(key) is entry:
                    del generation.contexts[key]
                await _close_context(entry.context)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        async with self._lock:
            if self._current is not None:
                await _close(self._current.browser)
                self._current = None
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
            self._playwright = None

    def retire(self, key: str) -> None:
        """Job ``key`` needs its context no more (it was cancelled): it is closed once idle."""
        current = self._current
        entry = None if current is None else current.contexts.get(key)
        if entry is not None:
            entry.retired = True

    async def sweep(self) -> int:
        """Close the current browser's idle contexts past ``context_idle`` and those beyond
        ``max_idle_contexts``; how many were closed."""
        async with self._lock:
            current = self._current
            if current is None:
                return 0
            now = self._clock()
            idle = sorted(
                (e for e in current.contexts.values() if e.active == 0),
                key=lambda e: e.idle_since,
            )
            over = max(0, len(idle) - self._max_idle)
            closing = [
                e
                for i, e in enumerate(idle)
                if i < over or e.retired or now - e.idle_since >= self._context_idle
            ]
            for entry in closing:
                del current.contexts[entry.key]
        for entry in closing:
            await _close_context(entry.context)
        return len(closing)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self._context_idle))
            try:
                await self.sweep()
            except Exception:  # logged and retried; ready() stays true while this runs
                log.exception("browser.sweep_failed")

    async def _lease(self, key: str) -> tuple[_Generation, _Context]:
        async with self._lock:
            old = self._current
            if old is None or old.used >= self._pages_per_browser or not old.browser.is_connected():
                current = self._current = _Generation(await self._launch())
                if old is not None:
                    log.info(
                        "browser.replaced",
                        pages=old.used,
                        connected=old.browser.is_connected(),
                    )
                    if old.active == 0:
                        await _close(old.browser)
            else:
                current = old
            entry = current.contexts.get(key)
            if entry is not None and (entry.retired or entry.used >= self._pages_per_context):
                entry.retired = True
                del current.contexts[key]
                if entry.active == 0:
                    await _close_context(entry.context)
                entry = None
            if entry is None:
                entry = _Context(key, await self._new_context(current.browser))
                current.contexts[key] = entry
            entry.used += 1
            entry.active += 1
            current.used += 1
            current.active += 1
            return current, entry

    async def _new_context(self, browser: Browser) -> BrowserContext:
        context = await browser.new_context(**self._context_options)
        await context.route("**/*", _unclaimed)
        self.contexts_created += 1
        return context

    async def _new_tab(self, context: BrowserContext) -> _Tab:
        tab = _Tab(await context.new_page())
        self.tabs_created += 1
        # Playwright marks the handlers it is given: plain functions, not the slotted tab's.
        await tab.page.route("**/*", lambda route, request: tab.request(route, request))  # noqa: PLW0108
        await tab.page.route_web_socket("**/*", lambda socket: tab.websocket(socket))  # noqa: PLW0108
        return tab

    async def _launch(self) -> Browser:
        assert self._playwright is not None, "start() first"
        browser = await self._playwright.chromium.launch(
            executable_path=self._executable_path, headless=True, args=list(LAUNCH_FLAGS)
        )
        self.launched += 1
        log.info("browser.launched", version=browser.version, launched=self.launched)
        return browser


async def _unclaimed(route: Route, request: Request) -> None:
    """A request none of the context's pages answered (a worker's, say): refused."""
    log.debug("render.unclaimed_request", url=request.url[:300], kind=request.resource_type)
    with contextlib.suppress(PlaywrightError):
        await route.abort("blockedbyclient")


async def _close_tab(tab: _Tab) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(tab.page.close(), 5)


async def _close_context(context: BrowserContext) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(context.close(), 5)


async def _close(browser: Browser) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(browser.close(), 10)
