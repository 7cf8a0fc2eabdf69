"""What the engine's tests give a crawl: a sink that keeps its events, the real extraction."""

from __future__ import annotations

from typing import Any

from crawl_worker.extract import Extracted, extract_page


class Sink:
    """Keeps every event the crawl emits, in order."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def emit(self, event: Any) -> None:
        self.events.append(event)


async def extract(body: bytes, url: str) -> Extracted:
    """The extraction the crawler runs, in the test's own loop."""
    return extract_page(body, url)
