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
