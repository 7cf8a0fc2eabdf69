"""Each reliability module gets its own RabbitMQ virtual host and database.

The modules start and kill whole stacks; whatever one leaves in its queues (a status service
killed with a backlog, dead letters) must not become the next module's backlog.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest
from pymongo import MongoClient

from tests.conftest import Services


@pytest.fixture(scope="module")
def services(service_urls: tuple[str, str, str]) -> Iterator[Services]:
    amqp, management, mongo = service_urls
    vhost = f"test-{uuid.uuid4().hex[:8]}"
    parts = urlsplit(amqp)
    auth = (parts.username or "guest", parts.password or "guest")
    api = httpx.Client(base_url=management.rstrip("/"), auth=auth, timeout=10)
    api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
    api.put(
        f"/api/permissions/{quote(vhost, safe='')}/{quote(auth[0], safe='')}",
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()
    vhost_url = urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))
    database = f"test_{vhost[5:]}"
    try:
        yield Services(vhost_url, management, mongo, database)
    finally:
        api.delete(f"/api/vhosts/{quote(vhost, safe='')}")
        api.close()
        sync: MongoClient[dict[str, Any]]
        with MongoClient(mongo, serverSelectionTimeoutMS=5000) as sync:
            sync.drop_database(database)
