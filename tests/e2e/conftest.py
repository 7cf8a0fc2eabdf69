"""The stack every end-to-end module starts once (a module may define its own ``stack`` with
other settings, which takes precedence)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crawl_stack import Services, Stack, running_stack


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(services) as running:
        yield running
