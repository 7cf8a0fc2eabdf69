"""One headless Chromium per process, replaced after a number of pages.

Each page gets a fresh browser context (no cookies, storage or cache shared between pages,
closed after the page), and the browser itself is replaced every ``pages_per_browser``
pages: the new one takes the next pages at once, the old one is closed when its last page is
done. Memory a long-lived browser gathers (caches, fragmentation) stays bounded that way. A
browser that died is replaced at the next page.

The browser is launched so it cannot reach the network on its own: every request it makes is
answered by the renderer (``render``), name resolution maps every host to nothing
(``--host-resolver-rules``), and anything that would still try (pre-connects, WebRTC) meets a
proxy that does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from playwright.async_api import Browser, Playwright, async_playwright

__all__ = ["LAUNCH_FLAGS", "BrowserPool"]

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


@dataclass(eq=False, slots=True)
class _Generation:
    browser: Browser
    used: int = 0
    active: int = 0


class BrowserPool:
    """Lends the current browser to one page at a time per ``page()`` call."""

    def __init__(self, executable_path: str, pages_per_browser: int) -> None:
        self._executable_path = executable_path
        self._pages_per_browser = pages_per_browser
        self._playwright: Playwright | None = None
        self._current: _Generation | None = None
        self._lock = asyncio.Lock()
        self.launched = 0  # browsers launched so far (the first one included)

    async def start(self) -> None:
        """Start Playwright and the first browser (fails if Chromium cannot be launched)."""
        self._playwright = await async_playwright().start()
        async with self._lock:
            self._current = _Generation(await self._launch())

    async def ready(self) -> bool:
        current = self._current
        return current is not None and current.browser.is_connected()

    @contextlib.asynccontextmanager
    async def browser(self) -> AsyncIterator[Browser]:
        """The browser a page is rendered in, held for that page."""
        generation = await self._lease()
        try:
            yield generation.browser
        finally:
            generation.active -= 1
            if generation is not self._current and generation.active == 0:
                await _close(generation.browser)

    async def close(self) -> None:
        async with self._lock:
            if self._current is not None:
                await _close(self._current.browser)
                self._current = None
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                await self._playwright.stop()
            self._playwright = None

    async def _lease(self) -> _Generation:
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
            current.used += 1
            current.active += 1
            return current

    async def _launch(self) -> Browser:
        assert self._playwright is not None, "start() first"
        browser = await self._playwright.chromium.launch(
            executable_path=self._executable_path, headless=True, args=list(LAUNCH_FLAGS)
        )
        self.launched += 1
        log.info("browser.launched", version=browser.version, launched=self.launched)
        return browser


async def _close(browser: Browser) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(browser.close(), 10)
