"""robots.txt per host (RFC 9309), parsed with protego.

A 4xx robots.txt means no restrictions; an unreachable one (5xx, network error) means the
whole host is off limits for this crawl, as RFC 9309 section 2.3.1.4 asks. The two refusals
are told apart (``refusal``): ``robots`` when the site's rules forbid a URL,
``robots_unavailable`` with the cause (``HTTP 503``, the network error) when no rules could
be read, so a record never reads as if the site forbade what it could not be asked about.

The files a worker fetched are shared by its crawls for a few minutes (``RobotsFiles``; RFC
9309 section 2.4 allows up to 24 hours): a burst of small jobs on one site asks for its
robots.txt once, not once per job. Only answers are kept; an unreachable file is asked for
again by the next crawl.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from protego import Protego

__all__ = ["RobotsCache", "RobotsFetch", "RobotsFiles"]

# (url) -> (http status, body text), or (None, what failed) on network failure
RobotsFetch = Callable[[str], Awaitable[tuple[int | None, str]]]


class RobotsFiles:
    """robots.txt answers (status, body) by origin, kept ``ttl`` seconds for every crawl of
    one worker; ``ttl`` 0 keeps nothing."""

    def __init__(
        self,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._files: OrderedDict[str, tuple[float, int, str]] = OrderedDict()

    def get(self, origin: str) -> tuple[int, str] | None:
        entry = self._files.get(origin)
        if entry is None:
            return None
        at, status, text = entry
        if self._clock() - at >= self._ttl:
            del self._files[origin]
            return None
        return status, text

    def put(self, origin: str, status: int, text: str) -> None:
        if self._ttl <= 0:
            return
        self._files.pop(origin, None)
        self._files[origin] = (self._clock(), status, text)
        while len(self._files) > self._max:
            self._files.popitem(last=False)


class RobotsCache:
    """Answers ``allowed(url)`` and ``crawl_delay(url)`` for one crawl, reading each host's
    file once (from ``files`` when another crawl of this worker fetched it recently)."""

    def __init__(
        self,
        fetch: RobotsFetch,
        user_agent: str,
        bypass: tuple[str, ...] = (),
        files: RobotsFiles | None = None,
    ) -> None:
        self._fetch = fetch
        self._agent = user_agent
        self._bypass = {b.lower().strip(".") for b in bypass}
        self._rules: dict[str, Protego | bool] = {}
        self._unavailable: dict[str, str] = {}  # origin -> why its robots.txt was not read
        self._files = files

    def bypassed(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return any(host == b or host.endswith("." + b) for b in self._bypass)

    async def _for(self, url: str) -> Protego | bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._rules:
            known = self._files.get(origin) if self._files is not None else None
            status: int | None
            if known is not None:
                status, text = known
            else:
                fetched, text = await self._fetch(origin + "/robots.txt")
                status = fetched
                if fetched is not None and fetched < 500 and self._files is not None:
                    self._files.put(origin, fetched, text)
            if status is None or status >= 500:
                self._rules[origin] = False  # unreachable: disallow everything
                self._unavailable[origin] = text[:300] if status is None else f"HTTP {status}"
            elif status >= 400:
                self._rules[origin] = True  # absent: allow everything
            else:
                self._rules[origin] = Protego.parse(text)
        return self._rules[origin]

    async def allowed(self, url: str) -> bool:
        return await self.refusal(url) is None

    async def refusal(self, url: str) -> tuple[str, str | None] | None:
        """``None`` when ``url`` may be fetched; else the reason and its cause:
        ``("robots", None)`` when the site's rules forbid it, ``("robots_unavailable",
        "connect_error: … Connection refused (errno 111)")`` when its robots.txt could not be
        read (RFC 9309: then nothing on the host may be fetched)."""
        if self.bypassed(url):
            return None
        rules = await self._for(url)
        if rules is True:
            return None
        if rules is False:
            parts = urlsplit(url)
            cause = self._unavailable.get(f"{parts.scheme}://{parts.netloc}")
            return "robots_unavailable", cause or "robots.txt unreachable"
        if rules.can_fetch(url, self._agent):
            return None
        return "robots", None

    async def sitemaps(self, url: str) -> list[str]:
        """Sitemap URLs named in the host's robots.txt (read even when bypassed)."""
        rules = await self._for(url)
        if isinstance(rules, bool):
            return []
        return [str(s) for s in rules.sitemaps]

    async def crawl_delay(self, url: str) -> float:
        if self.bypassed(url):
            return 0.0
        rules = await self._for(url)
        if isinstance(rules, bool):
            return 0.0
        delay = rules.crawl_delay(self._agent)
        return float(delay) if delay else 0.0
