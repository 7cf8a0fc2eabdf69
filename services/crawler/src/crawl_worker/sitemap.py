"""Sitemaps (sitemaps.org): ``<urlset>`` pages and ``<sitemapindex>`` indexes.

Parsing is defensive: no entities, no network, no DTDs; a broken sitemap yields nothing
rather than an error, because sitemaps only add URLs to a crawl that works without them.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from lxml import etree  # type: ignore[import-untyped]

__all__ = ["SitemapEntries", "parse_sitemap", "read_sitemaps"]

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, recover=True, huge_tree=False
)
MAX_SITEMAPS = 20
MAX_SITEMAP_BYTES = 10 * 1024 * 1024

# (url) -> (http status or None on network failure, body bytes)
SitemapFetch = Callable[[str], Awaitable[tuple[int | None, bytes]]]


@dataclass(slots=True)
class SitemapEntries:
    pages: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_sitemap(body: bytes) -> SitemapEntries:
    """The page URLs (``<urlset>``) or child sitemaps (``<sitemapindex>``) in one document."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = zlib.decompressobj(wbits=31).decompress(body, MAX_SITEMAP_BYTES)
        except (zlib.error, gzip.BadGzipFile):
            return SitemapEntries()
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        return SitemapEntries()
    entries = SitemapEntries()
    if root is None:
        return entries
    kind = _local(root.tag)
    for item in root:
        if _local(item.tag) not in ("url", "sitemap"):
            continue
        loc = next((c.text for c in item if _local(c.tag) == "loc" and c.text), None)
        if not loc:
            continue
        (entries.sitemaps if kind == "sitemapindex" else entries.pages).append(loc.strip())
    return entries


async def read_sitemaps(fetch: SitemapFetch, roots: list[str], max_urls: int) -> list[str]:
    """Page URLs of the given sitemaps and their children, breadth-first, at most ``max_urls``
    and at most ``MAX_SITEMAPS`` documents."""
    queue = list(dict.fromkeys(roots))
    visited: set[str] = set()
    pages: list[str] = []
    while queue and len(visited) < MAX_SITEMAPS and len(pages) < max_urls:
        url = queue.pop(0)
        if url in visited:
            continue
        visited.add(url)
        status, body = await fetch(url)
        if status is None or status >= 400 or not body:
            continue
        entries = parse_sitemap(body)
        pages.extend(entries.pages[: max_urls - len(pages)])
        queue.extend(s for s in entries.sitemaps if s not in visited)
    return pages
