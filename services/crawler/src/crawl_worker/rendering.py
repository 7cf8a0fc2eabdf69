"""When a page is rendered in a browser before extraction: the crawl request's ``render`` mode.

- ``never``: no page is rendered;
- ``always``: every HTML page is;
- ``auto`` (the default): a page is rendered when its fetched HTML **loads scripts** (at least
  one ``<script src>``, or inline scripts of ``MIN_INLINE_SCRIPT_CHARS`` characters or more;
  JSON and template scripts do not count) **and shows less than** ``MIN_TEXT_CHARS`` **(200)
  characters of text** in its ``<body>`` outside scripts, styles, ``<noscript>`` and
  ``<template>`` (whitespace collapsed). That is a page whose text a script writes: an
  application shell that shows "Loading…" until its bundle has run. A page with its text in
  the HTML is extracted as fetched, scripts or not, and costs no browser.

Documents (PDF) and other non-HTML answers are never rendered. The rule is pure: it reads the
bytes the crawler fetched, and a page without the bytes ``<script`` is decided without parsing.
"""

from __future__ import annotations

import re
from typing import Any, Final

import trafilatura

from crawl_contracts import RenderMode

__all__ = [
    "MIN_INLINE_SCRIPT_CHARS",
    "MIN_TEXT_CHARS",
    "RendererUnavailableError",
    "needs_rendering",
    "visible_text",
]

MIN_TEXT_CHARS: Final = 200
MIN_INLINE_SCRIPT_CHARS: Final = 1024
_SCRIPT = re.compile(rb"<script", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
# Script types a browser runs (``type`` absent or one of these); JSON-LD, JSON data and
# templates are not code.
_CODE_TYPES = frozenset(
    {"", "module", "text/javascript", "application/javascript", "application/ecmascript"}
)
_HIDDEN = ("script", "style", "noscript", "template")


class RendererUnavailableError(Exception):
    """No renderer runs: pages that need rendering are recorded from their fetched HTML."""


def needs_rendering(mode: RenderMode, body: bytes) -> bool:
    """Whether a fetched HTML page is rendered before extraction, by ``mode`` (module doc)."""
    if mode is RenderMode.NEVER:
        return False
    if mode is RenderMode.ALWAYS:
        return True
    if not _SCRIPT.search(body):
        return False
    tree = trafilatura.load_html(body)
    if tree is None:
        return False
    external, inline = 0, 0
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() not in _CODE_TYPES:
            continue
        if script.get("src"):
            external += 1
        else:
            inline += len(script.text or "")
    if not external and inline < MIN_INLINE_SCRIPT_CHARS:
        return False
    return len(visible_text(tree)) < MIN_TEXT_CHARS


def visible_text(tree: Any) -> str:
    """The text of the ``<body>`` of a parsed page (an lxml tree) outside scripts, styles,
    ``<noscript>`` and ``<template>``, whitespace collapsed."""
    body = tree.find(".//body")
    if body is None:
        return ""
    parts: list[str] = []
    _collect(body, parts)
    return _SPACES.sub(" ", " ".join(parts)).strip()


def _collect(element: Any, parts: list[str]) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag.lower() in _HIDDEN:
        return  # its text is not shown; its tail is, and the caller takes it
    if element.text and tag:
        parts.append(element.text)
    for child in element:
        _collect(child, parts)
        if child.tail:
            parts.append(child.tail)
