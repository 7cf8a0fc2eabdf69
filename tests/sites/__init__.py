"""Websites the tests and the demo crawl, served on loopback."""
