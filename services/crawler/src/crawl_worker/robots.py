"""robots.txt per host (RFC 9309), parsed with protego.

A 4xx robots.txt means no restrictions; an unreachable one (5xx, network error) means the
whole host is off limits for this crawl, as RFC 9309 section 2.3.1.4 asks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from protego import Protego

__all__ = ["RobotsCache", "RobotsFetch"]

# (url) -> (http status or None on network failure, body text)
RobotsFetch = Callable[[str], Awaitable[tuple[int | None, str]]]


class RobotsCache:
    """Answers ``allowed(url)`` and ``crawl_delay(url)``, fetching each host's file once."""

    def __init__(self, fetch: RobotsFetch, user_agent: str, bypass: tuple[str, ...] = ()) -> None:
        self._fetch = fetch
        self._agent = user_agent
        self._bypass = {b.lower().strip(".") for b in bypass}
        self._rules: dict[str, Protego | bool] = {}

    def bypassed(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return any(host == b or host.endswith("." + b) for b in self._bypass)

    async def _for(self, url: str) -> Protego | bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._rules:
            status, text = await self._fetch(origin + "/robots.txt")
            if status is None or status >= 500:
                self._rules[origin] = False  # unreachable: disallow everything
            elif status >= 400:
                self._rules[origin] = True  # absent: allow everything
            else:
                self._rules[origin] = Protego.parse(text)
        return self._rules[origin]

    async def allowed(self, url: str) -> bool:
        if self.bypassed(url):
            return True
        rules = await self._for(url)
        if isinstance(rules, bool):
            return rules
        return bool(rules.can_fetch(url, self._agent))

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
