"""Sitemaps and scope patterns."""

from __future__ import annotations

import gzip

from crawl_worker.frontier import Scope
from crawl_worker.sitemap import parse_sitemap, read_sitemaps

URLSET = b"""<?xml version="1.0"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc> https://a.test/one </loc></url><url><loc>https://a.test/two</loc></url>
</urlset>"""
INDEX = b"""<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://a.test/pages.xml.gz</loc></sitemap></sitemapindex>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<urlset><url><loc>&e;</loc></url></urlset>"""


def test_a_sitemap_lists_its_pages_and_an_index_its_sitemaps() -> None:
    assert parse_sitemap(URLSET).pages == ["https://a.test/one", "https://a.test/two"]
    assert parse_sitemap(INDEX).sitemaps == ["https://a.test/pages.xml.gz"]


def test_broken_or_hostile_sitemaps_yield_nothing() -> None:
    assert parse_sitemap(b"not xml at all <<<").pages == []
    assert parse_sitemap(XXE).pages == []


async def test_sitemap_indexes_are_followed_and_gzip_is_read_within_a_bound() -> None:
    bodies = {
        "https://a.test/sitemap.xml": INDEX,
        "https://a.test/pages.xml.gz": gzip.compress(URLSET),
    }

    async def fetch(url: str) -> tuple[int | None, bytes]:
        return (200, bodies[url]) if url in bodies else (404, b"")

    pages = await read_sitemaps(fetch, ["https://a.test/sitemap.xml"], max_urls=10)
    assert pages == ["https://a.test/one", "https://a.test/two"]
    assert await read_sitemaps(fetch, ["https://a.test/sitemap.xml"], max_urls=1) == [
        "https://a.test/one"
    ]


def test_scope_applies_site_subdomains_and_patterns() -> None:
    scope = Scope.build(
        "https://docs.test/", include=(r"/guide/",), exclude=(r"\.pdf$", r"/guide/old/")
    )
    assert scope("https://docs.test/")  # the start URL, whatever the patterns
    assert scope("https://docs.test/guide/a")
    assert not scope("https://docs.test/blog/a")
    assert not scope("https://docs.test/guide/old/a")
    assert not scope("https://docs.test/guide/a.pdf")
    assert not scope("https://api.docs.test/guide/a")
    assert Scope.build("https://docs.test/", allow_subdomains=True)("https://api.docs.test/x")
