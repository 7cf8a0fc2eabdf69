"""A private RabbitMQ virtual host and MongoDB database for one run of tests or benchmarks.

Each run gets its own, so it never shares queues or documents with a stack started by
``make up``, nor with another run at the same time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from pymongo import MongoClient

__all__ = ["Services", "private_services"]


@dataclass(frozen=True)
class Services:
    """Where a run's services are: its own virtual host, the management API, its database."""

    rabbitmq_url: str  # amqp URL of this run's own virtual host
    management_url: str
    mongodb_url: str
    database: str


@contextmanager
def private_services(
    amqp: str, management: str, mongo: str, *, prefix: str = "test"
) -> Iterator[Services]:
    """A fresh RabbitMQ virtual host (``<prefix>-<hex>``) and database (``<prefix>_<hex>``),
    both removed afterwards. Raises ``httpx.HTTPError`` if the management API refuses."""
    tag = uuid.uuid4().hex[:8]
    vhost = f"{prefix}-{tag}"
    parts = urlsplit(amqp)
    auth = (parts.username or "guest", parts.password or "guest")
    api = httpx.Client(base_url=management.rstrip("/"), auth=auth, timeout=10)
    api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
    api.put(
        f"/api/permissions/{quote(vhost, safe='')}/{quote(auth[0], safe='')}",
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()
    vhost_url = urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))
    database = f"{prefix}_{tag}"
    try:
        yield Services(vhost_url, management, mongo, database)
    finally:
        api.delete(f"/api/vhosts/{quote(vhost, safe='')}")
        api.close()
        sync: MongoClient[dict[str, Any]]
        with MongoClient(mongo, serverSelectionTimeoutMS=5000) as sync:
            sync.drop_database(database)
