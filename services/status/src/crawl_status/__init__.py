"""Status service: projects crawl commands and events into MongoDB documents."""
