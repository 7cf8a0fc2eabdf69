"""URL normalisation: the form every service keys a page by."""

from __future__ import annotations

import pytest

from crawl_schema.urls import normalize_url


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


@pytest.mark.parametrize("raw", ["ftp://example.com/", "/relative", "http://", "http://:80/"])
def test_what_is_no_absolute_http_url_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        normalize_url(raw)
