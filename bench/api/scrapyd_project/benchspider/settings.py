"""Settings of the benchmark's Scrapy project (robots.txt off: the page is local)."""

BOT_NAME = "benchspider"
SPIDER_MODULES = ["benchspider.spiders"]
ROBOTSTXT_OBEY = False
LOG_LEVEL = "WARNING"
TELNETCONSOLE_ENABLED = False
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
