"""Looking at a running stack from outside, as an operator would: a work queue as the broker's
management API describes it, and one sample of a service's ``/metrics``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from crawl_stack.services import Services

__all__ = ["extractions", "queue_info", "sample"]


def queue_info(services: Services, queue: str) -> dict[str, Any] | None:
    """The management API's description of ``queue`` in the services' vhost (``consumers``,
    ``messages``, ``single_active_consumer_ctag``...); ``None`` while it does not exist."""
    parts = urlsplit(services.rabbitmq_url)
    vhost = quote(unquote(parts.path[1:]), safe="")
    response = httpx.get(
        f"{services.management_url.rstrip('/')}/api/queues/{vhost}/{quote(queue, safe='')}",
        auth=(parts.username or "guest", parts.password or "guest"),
        timeout=10,
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    info: dict[str, Any] = response.json()
    return info


def sample(text: str, name: str) -> float | None:
    """The value of the sample ``name`` (with its labels as exposed, e.g.
    ``crawler_extractions_total{where="served"}``) in a scrape; ``None`` if absent."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found[1]) if found else None


def extractions(metrics_url: str) -> dict[str, float]:
    """A crawler's ``crawler_extractions_total``, by ``where`` (local, remote, served)."""
    text = httpx.get(f"{metrics_url}/metrics", timeout=10).text
    return {
        where: float(value)
        for where, value in re.findall(
            r'^crawler_extractions_total\{where="(\w+)"\} (\S+)$', text, re.MULTILINE
        )
    }
