"""Rendered pages/s on a local JavaScript site: our stack against Crawl4AI."""
