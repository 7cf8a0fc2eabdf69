"""Scrapy project run by Scrapyd in the API benchmark: one spider fetching one page."""
