"""Benchmarks of the crawl platform: ``make bench``."""
