"""The Scrapy side of the crawl benchmark, run as its own process.

``python -m bench.crawl.scrapy_spider START_URL CONCURRENCY MAX_DEPTH OUT.json``

Same scope as ours (the start URL's host), same concurrency, robots.txt obeyed, and the same
extraction on every HTML page: ``crawl_worker.extract.extract_page`` (trafilatura markdown,
title, language, description, content hash), called inline as a Scrapy callback does.
Links are followed with Scrapy's own ``LinkExtractor``. Timing is Scrapy's
``elapsed_time_seconds`` (spider opened to spider closed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response
from scrapy.linkextractors import LinkExtractor

from crawl_worker.extract import extract_page

HTML_TYPES = (b"text/html", b"application/xhtml+xml")


class DocsSpider(scrapy.Spider):  # type: ignore[misc]
    name = "docs"

    def __init__(self, start_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [start_url]
        parts = urlsplit(start_url)
        self.allowed_domains = [parts.hostname or ""]
        # LinkExtractor compares whole netlocs, port included.
        self.links = LinkExtractor(allow_domains=[parts.netloc])
        self.pages = 0

    def parse(self, response: Response) -> Iterator[scrapy.Request]:
        content_type = (response.headers.get(b"Content-Type") or b"").split(b";")[0].strip()
        if content_type.lower() not in HTML_TYPES:
            return
        extract_page(response.body, response.url)
        self.pages += 1
        for link in self.links.extract_links(response):
            yield response.follow(link, callback=self.parse)


def main() -> None:
    start_url, concurrency, max_depth, out = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        Path(sys.argv[4]),
    )
    process = CrawlerProcess(
        settings={
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
            "AUTOTHROTTLE_ENABLED": False,
            "ROBOTSTXT_OBEY": True,
            "DEPTH_LIMIT": max_depth,
            "LOG_LEVEL": "INFO",
            "TELNETCONSOLE_ENABLED": False,
            "USER_AGENT": "crawl-bench-scrapy/1.0",
        }
    )
    crawler = process.create_crawler(DocsSpider)
    process.crawl(crawler, start_url=start_url)
    process.start()
    stats = crawler.stats.get_stats()
    spider_pages = crawler.spider.pages
    out.write_text(
        json.dumps(
            {
                "pages": spider_pages,
                "seconds": float(stats["elapsed_time_seconds"]),
                "responses": int(stats.get("response_received_count", 0)),
            }
        )
    )


if __name__ == "__main__":
    main()
