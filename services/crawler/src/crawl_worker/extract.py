"""Text extraction. CPU-bound: runs in a process pool so fetching keeps the event loop.

``extract_page`` is a plain top-level function of picklable arguments and result, so it can
run in any worker process.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import trafilatura
from trafilatura.metadata import extract_metadata

__all__ = ["Extracted", "ExtractionError", "extract_page"]

_SPACES = re.compile(r"\s+")


class ExtractionError(Exception):
    """The page could not be parsed at all."""


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


def extract_page(body: bytes, url: str) -> Extracted:
    """Main text as markdown, title, language, description, links and a content hash."""
    tree = trafilatura.load_html(body)
    if tree is None:
        raise ExtractionError("not parseable as HTML")
    links = [
        href
        for element, attr, href, _ in tree.iterlinks()
        if attr == "href" and element.tag in ("a", "area")
    ]
    canonical = next(
        (
            el.get("href")
            for el in tree.iter("link")
            if (el.get("rel") or "").lower() == "canonical" and el.get("href")
        ),
        None,
    )
    base = next((el.get("href") for el in tree.iter("base") if el.get("href")), None)
    title = (tree.findtext(".//title") or "").strip() or None
    language = tree.get("lang") or tree.get("xml:lang")
    metadata = extract_metadata(tree, default_url=url)
    if title is None and metadata is not None:
        title = metadata.title
    description = metadata.description if metadata is not None else None
    markdown = (
        trafilatura.extract(
            tree, url=url, output_format="markdown", include_links=False, include_comments=False
        )
        or ""
    )
    normalized = _SPACES.sub(" ", markdown).strip()
    content_hash = hashlib.sha256(normalized.encode()).hexdigest() if normalized else None
    return Extracted(
        title=_SPACES.sub(" ", title).strip() if title else None,
        markdown=markdown,
        language=language.split("-")[0].lower() if language else None,
        description=description,
        content_hash=content_hash,
        links=links,
        canonical=canonical,
        base=base,
    )
