"""Per-host politeness, one rule for every service that requests a crawled site's pages: the
crawler's fetches and the renderer's browser requests (``gate``)."""

from crawl_politeness.gate import HostGate, PolitenessLimits

__all__ = ["HostGate", "PolitenessLimits"]
