"""The dashboard in real headless Chromium (Debian's ``chromium``, driven by Playwright):
sign in, start a crawl of a slow site from the runs page, watch its counters rise, cancel it
from the run page, see ``Cancelled``. A screenshot of the run page is kept in
``.local/artifacts/``."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from crawl_stack import TOKEN, Services, Stack, running_stack
from tests.sites.slow import slow_site

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "artifacts"
LAUNCH_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    # One request at a time on pages that take a second: slow enough for the status service
    # to keep up even on a busy machine, so what the page shows is close to what happens.
    with running_stack(services, extra_env={"CRAWL_WORKER_CONCURRENCY": "1"}) as running:
        yield running


@pytest.fixture
def browser_page() -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="crawl-dashboard-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=LAUNCH_FLAGS,
                viewport={"width": 1280, "height": 1000},
            )
            try:
                yield context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def counter(page: Page, name: str) -> int:
    return int(page.locator(f"#counter-{name}").inner_text())


def test_a_crawl_started_from_the_dashboard_is_watched_and_cancelled_from_its_page(
    stack: Stack, browser_page: Page
) -> None:
    page = browser_page
    with slow_site(delay=1.0) as site:
        # Signing in takes the API token and lands on the runs table, where a crawl starts.
        page.goto(f"{stack.api_url}/dashboard")
        expect(page).to_have_url(f"{stack.api_url}/dashboard/login?next=/dashboard")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{stack.api_url}/dashboard")
        page.click("summary:has-text('New crawl')")
        page.fill("input[name=url]", site)
        page.fill("input[name=max_pages]", "2000")
        page.fill("input[name=max_depth]", "20")
        page.click("button:has-text('Start crawl')")
        page.wait_for_url(f"{stack.api_url}/dashboard/runs/*")
        job_id = page.url.rsplit("/", 1)[1]

        # The counters rise on their own, without reloading the page.
        expect(page.locator(".run .status")).to_have_text("Running", timeout=45_000)
        page.wait_for_function(
            "document.querySelector('#counter-fetched').textContent * 1 >= 3", timeout=45_000
        )
        first = counter(page, "fetched")
        page.wait_for_function(
            f"document.querySelector('#counter-fetched').textContent * 1 > {first}",
            timeout=20_000,
        )
        assert counter(page, "fetched") > first

        # Cancel asks for confirmation first; keeping the crawl running changes nothing.
        page.click("button[data-action=cancel]")
        expect(page.locator("#cancel-dialog")).to_be_visible()
        page.click("#cancel-dialog button[value=keep]")
        expect(page.locator("#cancel-dialog")).to_be_hidden()
        time.sleep(1.5)
        expect(page.locator(".run .status")).to_have_text("Running")
        page.click("button[data-action=cancel]")
        page.click("#cancel-confirm")
        expect(page.locator(".run .status")).to_have_text("Cancelled", timeout=60_000)
        expect(page.locator("button[data-action=cancel]")).to_have_count(0)

        fetched = counter(page, "fetched")
        assert fetched >= 3
        assert counter(page, "discovered") == fetched + counter(page, "failed") + counter(
            page, "skipped"
        ) + counter(page, "queued") + counter(page, "in_flight")
        expect(page.locator(".run-head")).to_contain_text("stop reason cancelled")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-run-cancelled.png"), full_page=True)

        # Like the API's clients, the page stops polling once the run has finished.
        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url) if "/fragments/" in r.url else None)
        time.sleep(2.5)
        assert polls == []

        page.click("text=← Runs")
        expect(page.locator(f"tr[data-run-id='{job_id}'] .status")).to_have_text("Cancelled")
        page.click("nav >> text=Overview")
        expect(page.locator("h2", has_text="Jobs by state")).to_be_visible()
        expect(page.locator("h2", has_text="Dead letters")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

    job = httpx.get(
        f"{stack.api_url}/api/v1/crawls/{job_id}", headers=stack.headers, timeout=10
    ).json()
    assert job["status"] == "cancelled"
    assert job["counters"]["fetched"] == fetched
