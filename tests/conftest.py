"""Real services for integration and e2e tests.

Service URLs come from the environment (``RABBITMQ_URL``, ``MONGODB_URL``, optionally
``RABBITMQ_MANAGEMENT_URL``; ``make test`` sets them from ``deploy/services.sh``). Without
them the fixtures try testcontainers (rabbitmq:3.13-management, mongo:7) where a Docker daemon
answers. Under ``CI=true`` a missing service fails the run instead of skipping it.

Each test session gets its own RabbitMQ virtual host and its own database, so tests never
share queues or documents with a stack started by ``make up``, nor with each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest
from pymongo import AsyncMongoClient, MongoClient


@dataclass(frozen=True)
class Services:
    rabbitmq_url: str  # amqp URL of this session's own virtual host
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


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(reason)


def _from_containers() -> Iterator[tuple[str, str, str]]:
    try:
        import docker  # noqa: PLC0415
        from testcontainers.community.mongodb import MongoDbContainer  # noqa: PLC0415
        from testcontainers.community.rabbitmq import RabbitMqContainer  # noqa: PLC0415

        docker.from_env().ping()
    except Exception:
        _missing("no RABBITMQ_URL/MONGODB_URL set and no Docker daemon for testcontainers")
        return
    rabbit = RabbitMqContainer("rabbitmq:3.13-management").with_exposed_ports(5672, 15672)
    mongo = MongoDbContainer("mongo:7")
    with rabbit, mongo:
        host = rabbit.get_container_host_ip()
        amqp = f"amqp://guest:guest@{host}:{rabbit.get_exposed_port(5672)}/"
        management = f"http://{host}:{rabbit.get_exposed_port(15672)}"
        yield amqp, management, mongo.get_connection_url()


@pytest.fixture(scope="session")
def service_urls() -> Iterator[tuple[str, str, str]]:
    rabbit, mongo = os.environ.get("RABBITMQ_URL"), os.environ.get("MONGODB_URL")
    if rabbit and mongo:
        host = urlsplit(rabbit).hostname or "127.0.0.1"
        management = os.environ.get("RABBITMQ_MANAGEMENT_URL") or f"http://{host}:15672"
        yield rabbit, management, mongo
    else:
        yield from _from_containers()


@pytest.fixture(scope="session")
def services(service_urls: tuple[str, str, str]) -> Iterator[Services]:
    """A fresh vhost and database for this session; both removed afterwards."""
    amqp, management, mongo = service_urls
    with ExitStack() as stack:
        try:
            services = stack.enter_context(private_services(amqp, management, mongo))
        except httpx.HTTPError as exc:
            _missing(f"RabbitMQ management API at {management} not usable: {exc}")
        yield services


@pytest.fixture
async def mongo(services: Services) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(services.mongodb_url, tz_aware=True)
    try:
        await client.admin.command("ping")
    except Exception as exc:
        _missing(f"MongoDB at {services.mongodb_url} does not answer: {exc}")
    yield client
    await client.close()
