"""The crawl's scope: which URLs belong to it.

``Scope`` answers whether a normalised URL belongs to the crawl (same site, subdomains when
allowed, include / exclude regexes). The frontier itself is a FIFO of ``(url, depth)`` in
:class:`crawl_worker.state.CrawlState`: breadth-first order is a property of the FIFO (every
URL enters at ``depth + 1`` of the page that linked it, and pages are taken in the order they
were found).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crawl_worker.urls import same_site

__all__ = ["Scope"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Which URLs a crawl may visit. Patterns are searched in the normalised URL."""

    start_url: str
    allow_subdomains: bool = False
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def build(
        cls,
        start_url: str,
        *,
        allow_subdomains: bool = False,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
    ) -> Scope:
        return cls(
            start_url,
            allow_subdomains,
            tuple(re.compile(p) for p in include),
            tuple(re.compile(p) for p in exclude),
        )

    def site(self, url: str) -> bool:
        """Same site as the start URL (subdomains when allowed), whatever the patterns."""
        return same_site(url, self.start_url, allow_subdomains=self.allow_subdomains)

    def __call__(self, url: str) -> bool:
        if not self.site(url):
            return False
        if url == self.start_url:
            return True  # the start URL is in scope whatever the patterns say
        if self.include and not any(p.search(url) for p in self.include):
            return False
        return not any(p.search(url) for p in self.exclude)
