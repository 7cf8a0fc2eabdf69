"""``crawlctl pages ID --export DIR``: one markdown file per fetched page plus a JSONL index.

File names come from the page's position and URL path (``0007-broadleaves-ash.md``), limited
to safe characters, so a crawled URL can never write outside ``DIR``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["export_pages", "file_name"]

_UNSAFE = re.compile(r"[^a-z0-9]+")


def file_name(index: int, url: str) -> str:
    """``NNNN-<slug of host-relative path>.md``; the number keeps names unique."""
    parts = urlsplit(url)
    slug = _UNSAFE.sub("-", f"{parts.path} {parts.query}".lower()).strip("-")[:80] or "index"
    return f"{index:04d}-{slug}.md"


def _markdown(page: dict[str, Any]) -> str:
    front = {k: page.get(k) for k in ("url", "title", "language", "http_status", "depth")}
    header = "\n".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in front.items())
    return f"---\n{header}\n---\n\n{page.get('markdown') or ''}\n"


def export_pages(pages: Iterable[dict[str, Any]], directory: Path) -> tuple[int, int]:
    """Write the pages; returns (markdown files written, index lines written)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = lines = 0
    with (directory / "index.jsonl").open("w", encoding="utf-8") as index:
        for page in pages:
            entry = {k: v for k, v in page.items() if k != "markdown"}
            # crawl_schema.CONTENT_OUTCOMES, spelled out: crawlctl imports no lib (importing
            # crawl_schema would triple its start-up, 0.28 -> 0.87 s)
            has_text = page.get("outcome") in ("fetched", "unchanged")
            if has_text and page.get("markdown") is not None:
                files += 1
                name = file_name(files, str(page.get("url", "")))
                (directory / name).write_text(_markdown(page), encoding="utf-8")
                entry["file"] = name
            else:
                entry["file"] = None
            index.write(json.dumps(entry, ensure_ascii=False) + "\n")
            lines += 1
    return files, lines
