"""Each reliability module gets its own RabbitMQ virtual host and database.

The modules start and kill whole stacks; whatever one leaves in its queues (a status service
killed with a backlog, dead letters) must not become the next module's backlog. Also the
fixtures most of them share: a site answering each page after 0.3 s (``site``; a module may
define its own), an API client for the module's ``stack``, and an event probe.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from crawl_stack import Services, Stack, private_services
from tests.reliability.support import EventProbe, event_probe, slow_site


@pytest.fixture(scope="module")
def services(service_urls: tuple[str, str, str]) -> Iterator[Services]:
    with private_services(*service_urls) as fresh:
        yield fresh


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with slow_site(0.3) as url:
        yield url


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=30) as c:
        yield c


@pytest.fixture
async def probe(services: Services) -> AsyncIterator[EventProbe]:
    async with event_probe(services.rabbitmq_url) as running:
        yield running
