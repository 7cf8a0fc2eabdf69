from __future__ import annotations

import pytest

from crawl_worker.urls import resolve_link, same_site


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
