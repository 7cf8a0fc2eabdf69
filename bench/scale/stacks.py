"""The services under test: private vhosts and databases, the stack's environment, and
small probes of the broker and of the crawler's metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import aio_pika
import httpx

from crawl_contracts import routing
from crawl_stack import Services, private_services

__all__ = [
    "BENCH_TOKEN",
    "HEADERS",
    "histogram",
    "metric",
    "services",
    "settle",
    "stack_env",
]

BENCH_TOKEN = "bench-scale-token"
HEADERS = {"Authorization": f"Bearer {BENCH_TOKEN}"}


@contextmanager
def services(database: str | None = None) -> Iterator[Services]:
    """A private RabbitMQ vhost, and a private database unless ``database`` names one to use
    (a named database is kept; a private one is dropped afterwards)."""
    amqp = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    mongo = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    management = (
        os.environ.get("RABBITMQ_MANAGEMENT_URL") or f"http://{urlsplit(amqp).hostname}:15672"
    )
    with private_services(amqp, management, mongo, prefix="bench") as made:
        yield made if database is None else dataclasses.replace(made, database=database)


def stack_env(tenant: str, **overrides: str) -> dict[str, str]:
    """The stack's environment for the benchmark: the bench token for ``tenant``, no rate
    limit, no cap on unfinished jobs, a full extraction pool, quiet logs; ``overrides`` on
    top (``CRAWL_...`` names)."""
    return {
        "CRAWL_API_TOKENS": json.dumps({BENCH_TOKEN: {"user": "bench", "tenant": tenant}}),
        "CRAWL_API_RATE_LIMIT_PER_SECOND": "1000000",
        "CRAWL_API_RATE_LIMIT_BURST": "1000000",
        "CRAWL_API_MAX_RUNNING_JOBS_PER_TENANT": "0",
        "CRAWL_API_WORKERS": "2",
        "CRAWL_API_LOG_LEVEL": "WARNING",
        "CRAWL_WORKER_EXTRACT_PROCESSES": str(os.cpu_count() or 1),
        "CRAWL_WORKER_LOG_LEVEL": "WARNING",
        "CRAWL_STATUS_LOG_LEVEL": "WARNING",
        **overrides,
    }


async def _settle(vhost_url: str, queues: tuple[str, ...], within: float) -> bool:
    connection = await aio_pika.connect(vhost_url)
    try:
        channel = await connection.channel()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            ready = 0
            for queue in queues:
                declared = await channel.declare_queue(queue, passive=True)
                ready += declared.declaration_result.message_count or 0
            if not ready:
                await asyncio.sleep(1.0)  # the last prefetched ones
                return True
            await asyncio.sleep(0.2)
        return False
    finally:
        await connection.close()


def settle(
    services: Services,
    queues: tuple[str, ...] = routing.STATUS_PARTITION_QUEUES,
    within: float = 300,
) -> bool:
    """Wait until ``queues`` of the services' vhost (the status partitions) hold no ready
    message (the status service took everything); whether they did within ``within``."""
    return asyncio.run(_settle(services.rabbitmq_url, queues, within))


def metric(metrics_url: str, name: str) -> float | None:
    """The value of an unlabelled metric on a ``/metrics`` page, if it answers."""
    try:
        text = httpx.get(f"{metrics_url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def histogram(metrics_url: str, name: str) -> dict[str, float]:
    """The ``_count``, ``_sum`` and bucket counts (``le`` -> count) of a histogram."""
    try:
        text = httpx.get(f"{metrics_url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_count "):
            found["count"] = float(line.split()[1])
        elif line.startswith(f"{name}_sum "):
            found["sum"] = float(line.split()[1])
        elif line.startswith(f'{name}_bucket{{le="'):
            le = line.split('"')[1]
            found[le] = float(line.split()[1])
    return found
