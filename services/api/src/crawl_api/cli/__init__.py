"""``crawlctl``, the command-line client of the crawl platform's REST API."""

from crawl_api.cli.main import app

__all__ = ["app"]
