"""Per-host politeness: how many requests a host gets at once and how far apart they start,
for the crawler's fetches and the renderer's browser requests alike.

Every request to a host passes through ``HostGate.slot(url)``. A host's delay is the larger
of the crawl's minimum delay and the host's robots.txt ``Crawl-delay`` (capped by the
operator). ``pause(url, seconds)`` holds back every later request to that host, which is how a
429 or 503 with ``Retry-After`` slows the whole crawl of that host, not just one URL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["HostGate", "PolitenessLimits"]

CrawlDelay = Callable[[str], Awaitable[float]]


@dataclass(frozen=True, slots=True)
class PolitenessLimits:
    """Per-host concurrency and delay in force for one crawl."""

    concurrency: int = 8
    delay: float = 0.0
    max_crawl_delay: float = 30.0

    @classmethod
    def resolve(
        cls,
        *,
        default_concurrency: int,
        max_concurrency: int,
        default_delay: float,
        min_delay: float,
        max_crawl_delay: float,
        requested_concurrency: int | None = None,
        requested_delay: float | None = None,
    ) -> PolitenessLimits:
        """A request may ask for anything within the operator's limits: at most
        ``max_concurrency`` requests per host, never less than ``min_delay`` apart."""
        concurrency = requested_concurrency or default_concurrency
        delay = default_delay if requested_delay is None else requested_delay
        return cls(
            concurrency=max(1, min(concurrency, max_concurrency)),
            delay=max(delay, min_delay),
            max_crawl_delay=max_crawl_delay,
        )


@dataclass(slots=True)
class _Host:
    semaphore: asyncio.Semaphore
    delay: float | None = None
    next_start: float = 0.0
    paused_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class HostGate:
    """Admits requests per host (``scheme://host:port``) within the politeness limits."""

    def __init__(
        self,
        limits: PolitenessLimits,
        crawl_delay: CrawlDelay | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = limits
        self._crawl_delay = crawl_delay
        self._clock = clock
        self._hosts: dict[str, _Host] = {}

    def _host(self, url: str) -> _Host:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(asyncio.Semaphore(self._limits.concurrency))
        return host

    async def delay_of(self, url: str) -> float:
        host = self._host(url)
        if host.delay is None:
            async with host.lock:  # one robots.txt look-up per host
                if host.delay is None:
                    robots = await self._crawl_delay(url) if self._crawl_delay else 0.0
                    host.delay = max(self._limits.delay, min(robots, self._limits.max_crawl_delay))
        return host.delay

    def pause(self, url: str, seconds: float) -> None:
        """No request to this host starts within the next ``seconds``."""
        host = self._host(url)
        host.paused_until = max(host.paused_until, self._clock() + seconds)

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Hold one of the host's slots, starting no sooner than its delay allows."""
        delay = await self.delay_of(url)
        host = self._host(url)
        async with host.semaphore:
            while True:
                now = self._clock()
                start = max(now, host.next_start, host.paused_until)
                if start <= now:
                    break
                await asyncio.sleep(start - now)
            host.next_start = now + delay
            yield
