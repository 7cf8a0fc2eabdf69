"""Rendering end to end: a site whose text only a script writes (``tests/sites/scripted``),
crawled through the whole stack with its renderer (headless Chromium).

- ``render: "auto"``: every page is rendered (its HTML loads a script and shows no text), so
  its markdown holds the text the script writes and the links the script adds are followed;
- ``render: "never"``: the same site yields no such text, and no page past the first;
- a page whose script fetches ``http://169.254.169.254/latest/meta-data/`` is rendered
  without that request ever being made: the job's log names the URL and the reason, and the
  page's text holds nothing the address could have answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crawl_stack import Stack, wait_finished
from tests.sites.serve import serving

pytestmark = pytest.mark.e2e

SCRIPTED = Path(__file__).resolve().parents[1] / "sites" / "scripted"
MARKER = "Scripted marker"
METADATA = "http://169.254.169.254/latest/meta-data/"


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serving(SCRIPTED) as url:
        yield url


def crawl(
    stack: Stack, site: str, render: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """The finished job, its pages and its log lines."""
    with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=30) as client:
        created = client.post(
            "/api/v1/crawls", json={"url": site, "max_pages": 20, "render": render}
        )
        assert created.status_code == 202, created.text
        location = created.headers["Location"]
        job = wait_finished(client, location, timeout=120)
        pages = client.get(f"{location}/pages", params={"limit": 100}).json()["items"]
        logs = [line["message"] for line in client.get(f"{location}/logs").json()["items"]]
    return job, pages, logs


def by_path(pages: list[dict[str, Any]], site: str) -> dict[str, dict[str, Any]]:
    return {p["url"].removeprefix(site.rstrip("/")): p for p in pages if p["outcome"] == "fetched"}


def test_auto_renders_pages_whose_text_a_script_writes(stack: Stack, site: str) -> None:
    job, pages, logs = crawl(stack, site, "auto")

    assert job["status"] == "completed", job
    fetched = by_path(pages, site)
    # The links exist only in the rendered DOM: following them proves the render too.
    assert set(fetched) == {"/", "/lichens.html", "/metadata.html"}, pages
    for path, page in fetched.items():
        assert page["rendered"] is True, path
        assert MARKER in page["markdown"], (path, page["markdown"])
    assert "Xanthoria" in fetched["/lichens.html"]["markdown"]
    assert fetched["/"]["title"] == "Scripted field notes"
    assert not any("render of" in line for line in logs), logs  # nothing failed to render


def test_never_extracts_the_html_as_fetched(stack: Stack, site: str) -> None:
    job, pages, _ = crawl(stack, site, "never")

    assert job["status"] == "completed", job
    fetched = by_path(pages, site)
    assert set(fetched) == {"/"}, pages  # no links without the script
    assert fetched["/"]["rendered"] is False
    assert MARKER not in (fetched["/"]["markdown"] or "")


def test_a_scripts_fetch_of_the_metadata_address_is_blocked_and_named_in_the_job_log(
    stack: Stack, site: str
) -> None:
    _, pages, logs = crawl(stack, site, "always")

    metadata = by_path(pages, site)["/metadata.html"]
    assert metadata["rendered"] is True
    assert "LEAKED" not in metadata["markdown"]
    assert "metadata unreachable" in metadata["markdown"]  # the script's fetch failed
    blocked = [line for line in logs if line.startswith(f"render blocked {METADATA} ")]
    assert len(blocked) == 1, logs
    (line,) = blocked
    assert "address not allowed: link-local" in line
    assert "169.254.169.254" in line
    assert line.endswith(f"on {site}metadata.html")


def metric(text: str, name: str) -> float:
    """The value of the sample ``name`` (with its labels, as exposed) in a scrape."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in the scrape")


def test_crawler_and_renderer_count_the_renders_and_refusals(stack: Stack, site: str) -> None:
    crawl(stack, site, "always")
    crawler = httpx.get(f"{stack.metrics_urls['crawler-0']}/metrics", timeout=5).text
    renderer = httpx.get(f"{stack.metrics_urls['renderer-0']}/metrics", timeout=5).text

    assert metric(crawler, 'crawler_renders_total{result="rendered"}') >= 3
    assert metric(crawler, 'crawler_renders_total{result="unavailable"}') == 0
    assert metric(renderer, 'renderer_pages_total{result="rendered"}') >= 3
    assert metric(renderer, "renderer_blocked_requests_total") >= 1  # the metadata address
    assert metric(renderer, "renderer_browsers_launched_total") >= 1
