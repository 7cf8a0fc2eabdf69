"""A hostile web site on loopback: one route per way a site can hurt a crawler.

``serving_hostile()`` runs it in a background thread and yields a ``HostileSite`` whose
``requests`` log (path, start time) lets tests check politeness. ``EXPECTED`` maps each
path the crawler discovers to the outcome and reason it must record.

Every stream is lazy and bounded: the 50 MB page and the gzip bomb are produced chunk by
chunk while the client reads, and the endless response gives up after ``ENDLESS_FOR`` seconds
or as soon as the client hangs up.
"""

from __future__ import annotations

from tests.sites.hostile.server import (
    EXPECTED,
    ROBOTS_CRAWL_DELAY,
    HostileSite,
    serving_hostile,
)

__all__ = ["EXPECTED", "ROBOTS_CRAWL_DELAY", "HostileSite", "serving_hostile"]
