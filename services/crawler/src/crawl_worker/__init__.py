"""Crawler service: claims crawl jobs, fetches politely and safely, extracts text, emits events."""
