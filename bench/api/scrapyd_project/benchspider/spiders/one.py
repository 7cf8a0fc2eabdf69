"""Fetch one page and extract its main text, as the crawler and the Celery task do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy
import trafilatura


class OnePage(scrapy.Spider):  # type: ignore[misc]
    name = "one"

    def __init__(self, url: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [url]

    def parse(self, response: Any) -> Iterator[dict[str, Any]]:
        yield {
            "url": response.url,
            "markdown": trafilatura.extract(response.text, output_format="markdown"),
        }
