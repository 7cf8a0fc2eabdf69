"""Crawl throughput: this platform against Scrapy on the same loopback site."""
