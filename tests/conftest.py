"""Real services for integration and e2e tests.

Service URLs come from the environment (``RABBITMQ_URL``, ``MONGODB_URL``, optionally
``RABBITMQ_MANAGEMENT_URL``; ``make test`` sets them from ``deploy/services.sh``). Without
them the fixtures try testcontainers (rabbitmq:3.13-management, mongo:7) where a Docker daemon
answers. Under ``CI=true`` a missing service fails the run instead of skipping it.

Each test session gets its own RabbitMQ virtual host and its own database
(``crawl_stack.private_services``), so tests never share queues or documents with a stack
started by ``make up``, nor with each other.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pymongo import AsyncMongoClient

from crawl_stack import Services, private_services

ROOT = Path(__file__).resolve().parents[1]


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
    rabbit = (
        RabbitMqContainer("rabbitmq:3.13-management")
        .with_exposed_ports(5672, 15672)
        # The status service's partitions are a consistent-hash exchange.
        .with_volume_mapping(
            str(ROOT / "deploy" / "rabbitmq" / "enabled_plugins"), "/etc/rabbitmq/enabled_plugins"
        )
    )
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
