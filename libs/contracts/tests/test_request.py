from __future__ import annotations

import pytest
from pydantic import ValidationError

from crawl_contracts import CrawlRequest


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "example.com",
        "http://",
        "javascript:alert(1)",
        "http://u:p@h/",
        "http://h:99999/",
    ],
)
def test_request_refuses_urls_that_cannot_be_crawled(url: str) -> None:
    with pytest.raises(ValidationError):
        CrawlRequest(url=url)


def test_request_defaults_and_limits() -> None:
    request = CrawlRequest(url=" https://example.com/x ")
    assert request.url == "https://example.com/x"
    assert (request.max_pages, request.max_depth) == (100, 3)
    with pytest.raises(ValidationError):
        CrawlRequest(url="https://example.com/", max_pages=0)
    with pytest.raises(ValidationError):
        CrawlRequest(url="https://example.com/", unknown_option=True)  # type: ignore[call-arg]


@pytest.mark.parametrize("field", ["include", "exclude"])
def test_request_refuses_invalid_url_regexes(field: str) -> None:
    with pytest.raises(ValidationError, match="invalid regular expression"):
        CrawlRequest.model_validate({"url": "https://example.com/", field: ["/docs/(unclosed"]})


def test_request_scope_and_politeness_options_default_to_same_site_with_sitemaps() -> None:
    request = CrawlRequest(url="https://example.com/")
    assert request.include == request.exclude == ()
    assert request.allow_subdomains is False
    assert request.sitemap.value == "include"
    assert request.per_host_concurrency is None
    assert request.min_delay is None
    with pytest.raises(ValidationError):
        CrawlRequest(url="https://example.com/", per_host_concurrency=0)
    with pytest.raises(ValidationError):
        CrawlRequest.model_validate({"url": "https://example.com/", "sitemap": "sometimes"})
