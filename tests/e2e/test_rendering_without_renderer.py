"""A stack without any renderer: crawls that ask for rendering still end, their pages are
recorded from the fetched HTML (``rendered: false``), and the job's log says once why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crawl_stack import Services, Stack, running_stack, wait_finished
from tests.reliability.support import private_logs
from tests.sites.serve import serving

pytestmark = pytest.mark.e2e

SCRIPTED = Path(__file__).resolve().parents[1] / "sites" / "scripted"


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(services, renderers=0, logs=private_logs("no-renderer")) as running:
        yield running


def test_without_renderers_a_crawl_goes_on_from_the_fetched_html_and_says_so(
    stack: Stack,
) -> None:
    with (
        serving(SCRIPTED) as site,
        httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=30) as client,
    ):
        created = client.post("/api/v1/crawls", json={"url": site, "render": "always"})
        assert created.status_code == 202
        location = created.headers["Location"]
        job = wait_finished(client, location, timeout=60)
        pages = client.get(f"{location}/pages").json()["items"]
        logs = [line["message"] for line in client.get(f"{location}/logs").json()["items"]]

    assert job["status"] == "completed", job
    (page,) = [p for p in pages if p["outcome"] == "fetched"]
    assert page["rendered"] is False
    said = [line for line in logs if line.startswith("render: ")]
    assert said == [
        "render: no renderer is running; pages that need rendering are recorded from their "
        "fetched HTML"
    ]
