"""The crawl's scope and its breadth-first frontier.

``Scope`` answers whether a normalised URL belongs to the crawl (same site, subdomains when
allowed, include / exclude regexes). ``Frontier`` is a FIFO of ``(url, depth)`` plus the set
of every URL ever discovered; both are plain lists and sets of ``str`` and ``int`` so that a
crawl's position can be checkpointed and restored (``snapshot()`` / ``Frontier.restore()``).

Breadth-first order is a property of the FIFO: every URL enters at ``depth + 1`` of the page
that linked it, and pages are taken in the order they were found.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from crawl_worker.urls import same_site

__all__ = ["Frontier", "Scope"]


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


@dataclass(slots=True)
class Frontier:
    """URLs waiting to be fetched, breadth-first, and every URL ever discovered."""

    queue: deque[tuple[str, int]] = field(default_factory=deque)
    seen: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.queue)

    def __bool__(self) -> bool:
        return bool(self.queue)

    def __contains__(self, url: object) -> bool:
        return url in self.seen

    def mark(self, url: str) -> bool:
        """Record ``url`` as discovered; ``False`` if it already was."""
        if url in self.seen:
            return False
        self.seen.add(url)
        return True

    def push(self, item: tuple[str, int]) -> None:
        self.queue.append(item)

    def pop(self) -> tuple[str, int]:
        return self.queue.popleft()

    # deque-style names, so code written against a plain deque keeps working
    append = push

    def popleft(self) -> tuple[str, int]:
        return self.queue.popleft()

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self.queue)

    def clear(self) -> None:
        """Empty the queue; the seen-set stays (those URLs were discovered)."""
        self.queue.clear()

    def snapshot(self) -> dict[str, Any]:
        """Plain data: ``{"queue": [[url, depth], ...], "seen": [url, ...]}``."""
        return {"queue": [[u, d] for u, d in self.queue], "seen": sorted(self.seen)}

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Frontier:
        return cls(
            deque((str(u), int(d)) for u, d in data.get("queue", [])),
            {str(u) for u in data.get("seen", [])},
        )
