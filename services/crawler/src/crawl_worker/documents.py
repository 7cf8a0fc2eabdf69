"""Documents other than HTML: PDFs to markdown, with pypdfium2 (Google's PDFium).

A PDF is read from the bytes the fetcher already bounded (``max_response_bytes``); its text
is taken page by page, at most ``MAX_PAGES`` pages (the record says how many the document
has), as paragraphs under the document's title. Its links are not followed: a crawl reaches
documents from pages, not pages from documents.

Failures are named, never hung on: a document PDFium cannot open is ``DocumentError`` with
reason ``pdf_encrypted`` (it needs a password) or ``pdf_damaged`` (anything else it refuses),
and the cause in ``detail``. Like ``extract_page``, ``extract_pdf`` is a top-level function of
picklable arguments and results, run in the extraction processes.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]  # no type information shipped

from crawl_worker.extracted import Extracted

__all__ = ["MAX_PAGES", "DocumentError", "extract_pdf", "is_pdf"]

MAX_PAGES = 500  # pages whose text is read; PDFium reads a page in about a millisecond
_PASSWORD = 4  # FPDF_ERR_PASSWORD
_SPACES = re.compile(r"[ \t\f\v]+")
_BREAKS = re.compile(r"\n{3,}")


class DocumentError(Exception):
    """The document could not be read; ``reason`` is the record's reason, ``detail`` why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)  # both in args: the error crosses process bounds
        self.reason = reason
        self.detail = detail


def is_pdf(body: bytes) -> bool:
    """PDF's signature at the start (after white space): readers tolerate junk before it,
    but a page that merely mentions ``%PDF-`` near its top must stay a page."""
    return body[:1024].lstrip(b" \t\r\n\x00\xef\xbb\xbf").startswith(b"%PDF-")


def extract_pdf(body: bytes, url: str) -> Extracted:
    """The document's text as markdown (its title as a heading, each page's paragraphs),
    title (from its metadata, else its first line), page count and content hash."""
    try:
        document = pdfium.PdfDocument(body)
    except pdfium.PdfiumError as exc:
        reason = "pdf_encrypted" if getattr(exc, "err_code", None) == _PASSWORD else "pdf_damaged"
        raise DocumentError(reason, str(exc)[:300]) from None
    try:
        pages = len(document)
        texts = [_page_text(document, index) for index in range(min(pages, MAX_PAGES))]
        metadata = document.get_metadata_dict(skip_empty=True)
    finally:
        document.close()
    body_text = "\n\n".join(t for t in texts if t)
    title = (metadata.get("Title") or "").strip() or _first_line(body_text)
    markdown = f"# {title}\n\n{body_text}" if title and body_text else body_text
    digest = hashlib.sha256(" ".join(body_text.split()).encode()).hexdigest()
    return Extracted(
        title=title or None,
        markdown=markdown,
        language=None,
        description=(metadata.get("Subject") or "").strip() or None,
        content_hash=digest if body_text else None,
        page_count=pages,
    )


def _page_text(document: Any, index: int) -> str:
    """One page's text; ``DocumentError`` (``pdf_damaged``) if PDFium cannot read it."""
    page = textpage = None
    try:
        page = document[index]
        textpage = page.get_textpage()
        return _paragraphs(textpage.get_text_bounded())
    except pdfium.PdfiumError as exc:
        raise DocumentError("pdf_damaged", f"page {index + 1}: {exc}"[:300]) from None
    finally:
        if textpage is not None:
            textpage.close()
        if page is not None:
            page.close()


def _paragraphs(text: str) -> str:
    """PDFium's lines (``\\r\\n``) with their spacing folded; blank lines kept as breaks."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BREAKS.sub("\n\n", "\n".join(lines)).strip()


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return None
