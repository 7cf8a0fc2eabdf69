"""Each reliability module gets its own RabbitMQ virtual host and database.

The modules start and kill whole stacks; whatever one leaves in its queues (a status service
killed with a backlog, dead letters) must not become the next module's backlog.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crawl_stack import Services, private_services


@pytest.fixture(scope="module")
def services(service_urls: tuple[str, str, str]) -> Iterator[Services]:
    with private_services(*service_urls) as fresh:
        yield fresh
