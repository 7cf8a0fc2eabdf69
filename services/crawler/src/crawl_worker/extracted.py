"""What extraction makes of a fetched page or document (``extract``, ``documents``)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Extracted"]


@dataclass(frozen=True, slots=True)
class Extracted:
    title: str | None
    markdown: str
    language: str | None
    description: str | None
    content_hash: str | None
    links: list[str] = field(default_factory=list)
    canonical: str | None = None
    base: str | None = None
    page_count: int | None = None  # a document's pages (PDF); None for HTML
