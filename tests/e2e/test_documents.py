"""Documents end to end: a site linking to PDFs is crawled through the real stack; the readable
PDF's record holds its text as markdown, its title and page count, and the damaged and the
encrypted ones are ``failed`` with their reasons, while the crawl completes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from crawl_stack import Stack, wait_finished
from tests.sites.serve import serving

pytestmark = pytest.mark.e2e

DOCUMENTS = Path(__file__).resolve().parents[1] / "sites" / "documents"


def test_pdfs_become_markdown_and_broken_ones_fail_with_a_reason(stack: Stack) -> None:
    with (
        serving(DOCUMENTS) as site,
        httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as client,
    ):
        created = client.post("/api/v1/crawls", json={"url": site, "max_depth": 1})
        assert created.status_code == 202
        location = created.headers["Location"]
        job = wait_finished(client, location)
        assert job["status"] == "completed"
        assert job["counters"]["fetched"] == 2
        assert job["counters"]["failed"] == 2

        items = client.get(f"{location}/pages", params={"limit": 100}).json()["items"]
        pages = {p["url"].removeprefix(site): p for p in items}
        assert set(pages) == {"", "oaks.pdf", "damaged.pdf", "locked.pdf"}
        oaks = pages["oaks.pdf"]
        assert oaks["outcome"] == "fetched"
        assert oaks["title"] == "Oaks of Europe"
        assert oaks["page_count"] == 2
        assert oaks["content_type"] == "application/pdf"
        assert oaks["markdown"].startswith("# Oaks of Europe")
        assert "The English oak grows slowly" in oaks["markdown"]
        assert (pages["damaged.pdf"]["outcome"], pages["damaged.pdf"]["reason"]) == (
            "failed",
            "pdf_damaged",
        )
        assert pages["damaged.pdf"]["error"]
        assert (pages["locked.pdf"]["outcome"], pages["locked.pdf"]["reason"]) == (
            "failed",
            "pdf_encrypted",
        )
