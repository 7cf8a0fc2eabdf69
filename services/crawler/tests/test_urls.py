from __future__ import annotations

import pytest

from crawl_worker.urls import normalize_url, resolve_link, same_site


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com/a/#section", "http://example.com/a/"),
        ("http://example.com/?b=2&a=1", "http://example.com/?a=1&b=2"),
        ("http://example.com/?utm_source=x&id=3&fbclid=y", "http://example.com/?id=3"),
        ("http://example.com/a%20b", "http://example.com/a%20b"),
    ],
)
def test_normalize_url(raw: str, normal: str) -> None:
    assert normalize_url(raw) == normal


@pytest.mark.parametrize(
    "href", ["mailto:a@b.c", "javascript:void(0)", "data:text/html,x", "#top", "tel:123", ""]
)
def test_links_that_are_never_followed(href: str) -> None:
    assert resolve_link("http://example.com/", href) is None


def test_relative_links_resolve_against_the_page() -> None:
    assert resolve_link("http://example.com/a/b.html", "../c.html") == "http://example.com/c.html"


def test_same_site_ignores_www_and_scheme_but_not_other_hosts() -> None:
    start = "https://www.example.com/"
    assert same_site("http://example.com/x", start)
    assert not same_site("https://docs.example.com/x", start)
    assert same_site("https://docs.example.com/x", start, allow_subdomains=True)
    assert not same_site("https://example.org/", start)
