"""The Scrapy side of the crawl benchmark, run as its own process.

``python -m bench.crawl.scrapy_spider START_URL CONCURRENCY MAX_DEPTH OUT.json``

Same scope as ours (the start URL's host), same concurrency, robots.txt obeyed, and the same
extraction on every HTML page: ``crawl_worker.extract.extract_page`` (trafilatura markdown,
title, language, description, content hash), called inline as a Scrapy callback does.
Links are followed with Scrapy's own ``LinkExtractor``. Timing is Scrapy's
``elapsed_time_seconds`` (spider opened to spider closed).

CPU: the process's CPU time (user + system, all its threads) from spider opened to spider
closed, the same span as the timing, and the part of it spent in ``extract_page``. Beside the
pages it counts their distinct content hashes (what ours records as ``fetched``; a repeat is
ours' ``duplicate``) and the pages reached through a redirect (an HTTP one or a meta refresh,
which Scrapy follows and ours does not).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor

from crawl_worker.extract import extract_page

HTML_TYPES = (b"text/html", b"application/xhtml+xml")


class DocsSpider(scrapy.Spider):
    name = "docs"

    def __init__(self, start_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [start_url]
        parts = urlsplit(start_url)
        self.allowed_domains = [parts.hostname or ""]
        # LinkExtractor compares whole netlocs, port included.
        self.links = LinkExtractor(allow_domains=[parts.netloc])
        self.pages = 0
        self.hashes: dict[str, str] = {}  # content hash -> the first URL that had it
        self.redirected: list[tuple[list[str], str]] = []
        self.extract_cpu = 0.0
        self.cpu_opened = self.cpu_closed = 0.0

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> DocsSpider:
        spider: DocsSpider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.on_closed, signal=signals.spider_closed)
        return spider

    def on_opened(self) -> None:
        self.cpu_opened = time.process_time()

    def on_closed(self) -> None:
        self.cpu_closed = time.process_time()

    def parse(self, response: Response) -> Iterator[scrapy.Request]:
        content_type = (response.headers.get(b"Content-Type") or b"").split(b";")[0].strip()
        if content_type.lower() not in HTML_TYPES or not isinstance(response, TextResponse):
            return
        began = time.process_time()
        page = extract_page(response.body, response.url)
        self.extract_cpu += time.process_time() - began
        self.pages += 1
        if page.content_hash:
            self.hashes.setdefault(page.content_hash, response.url)
        if redirects := response.meta.get("redirect_urls"):
            self.redirected.append(([str(u) for u in redirects], response.url))
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
    spider = crawler.spider
    assert isinstance(spider, DocsSpider)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.write_text(
        json.dumps(
            {
                "pages": spider.pages,
                "seconds": float(stats["elapsed_time_seconds"]),
                "responses": int(stats.get("response_received_count", 0)),
                "distinct_content": len(spider.hashes),
                "content_hashes": spider.hashes,
                "redirected": len(spider.redirected),
                "redirected_examples": spider.redirected[:5],
                "cpu_seconds": round(spider.cpu_closed - spider.cpu_opened, 2),
                "extract_cpu_seconds": round(spider.extract_cpu, 2),
                "process_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
