"""Text extraction. CPU-bound: runs in a process pool so fetching keeps the event loop.

``extract_page`` is a plain top-level function of picklable arguments and result, so it can
run in any worker process. A PDF (by its signature, whatever it was served as) goes to
``documents.extract_pdf``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import trafilatura

from crawl_worker.documents import extract_pdf, is_pdf
from crawl_worker.extracted import Extracted

__all__ = ["Extracted", "ExtractionError", "extract_page"]

_SPACES = re.compile(r"\s+")


class ExtractionError(Exception):
    """The page could not be parsed at all."""


def _meta(tree: Any) -> dict[str, str]:
    """``<meta>`` values by lower-case ``name`` / ``property`` / ``http-equiv``, first wins."""
    found: dict[str, str] = {}
    for element in tree.iter("meta"):
        key = element.get("name") or element.get("property") or element.get("http-equiv")
        content = (element.get("content") or "").strip()
        if key and content:
            found.setdefault(key.strip().lower(), content)
    return found


def extract_page(body: bytes, url: str) -> Extracted:
    """Main text as markdown, title, language, description, links and a content hash."""
    if is_pdf(body):
        return extract_pdf(body, url)
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
    # Only what is recorded is looked up: trafilatura's full metadata pass also dates the
    # page (htmldate), which costs as much as the text extraction itself.
    meta = _meta(tree)
    title = (tree.findtext(".//title") or "").strip() or meta.get("og:title")
    if not title:
        title = (
            " ".join("".join(h.itertext()).split())
            if (h := tree.find(".//h1")) is not None
            else None
        )
    language = tree.get("lang") or tree.get("xml:lang") or meta.get("content-language")
    description = meta.get("description") or meta.get("og:description")
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
