"""HTTP API of the crawl platform: accepts crawl jobs and serves their state and results."""
