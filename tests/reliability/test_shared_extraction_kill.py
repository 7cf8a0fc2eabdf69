"""kill -9 of the crawler that extracts pages for another's crawl: the requests it held are
handed by the broker to a crawler still running (it never acknowledged them), the owner keeps
its job (same attempt, no stall), and the job completes with the same page ledger as a crawl
nobody disturbed.

The site is generated: 40 pages of about 100 KB of text each (about 0.1 s of extraction, like
the Python documentation's), so the crawler killed is extracting when it dies.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from crawl_stack import Services, Stack, running_stack
from crawl_stack.inspect import sample
from tests.reliability.support import (
    eventually,
    ledger,
    private_logs,
    reference_ledger,
    wait_status,
)
from tests.sites.serve import serving

pytestmark = pytest.mark.e2e

PAGES = 40
ENV = {
    "CRAWL_WORKER_CONCURRENCY": "4",
    "CRAWL_WORKER_EXTRACT_CHECK_INTERVAL": "0.5",
    # Longer than the test waits after the kill: a page is never saved by the fallback.
    "CRAWL_WORKER_EXTRACT_REMOTE_TIMEOUT": "120",
}
FINISHED = {"completed", "failed", "cancelled"}
CRAWLERS = {"e2e-crawler-0": "crawler-0", "e2e-crawler-1": "crawler-1"}
_SERVED = 'crawler_extractions_total{where="served"}'


def write_site(directory: Path) -> None:
    """An index linking every page; each page holds its own text and links to two others."""
    words = [
        *("alder", "birch", "cedar", "dogwood", "elm", "fir"),
        *("ginkgo", "hazel", "ilex", "juniper", "larch", "maple"),
    ]
    links = "".join(f'<li><a href="p{i}.html">Page {i}</a></li>' for i in range(PAGES))
    (directory / "index.html").write_text(
        f"<html><head><title>Index</title></head><body><ul>{links}</ul></body></html>"
    )
    for i in range(PAGES):
        paragraphs = "".join(
            f"<p>Page {i} paragraph {n}: "
            + " ".join(words[(i * 7 + n * 3 + k) % len(words)] for k in range(90))
            + ".</p>"
            for n in range(160)
        )
        (directory / f"p{i}.html").write_text(
            f"<html><head><title>Page {i}</title></head><body><article><h1>Page {i}</h1>"
            f"{paragraphs}<a href='p{(i + 1) % PAGES}.html'>next</a> "
            f"<a href='p{(i + 7) % PAGES}.html'>later</a></article></body></html>"
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("heavy-site")
    write_site(directory)
    with serving(directory) as url:
        yield url


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(
        services, workers=2, renderers=0, extra_env=ENV, logs=private_logs("shared-extraction")
    ) as running:
        yield running


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=30) as c:
        yield c


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a crawler's extraction processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def metric(stack: Stack, name: str, name_and_labels: str) -> float:
    text = httpx.get(f"{stack.metrics_urls[name]}/metrics", timeout=5).text
    return sample(text, name_and_labels) or 0.0


async def test_killing_the_crawler_extracting_for_another_leaves_the_ledger_whole(
    stack: Stack,
    site: str,
    client: httpx.AsyncClient,
    mongo: AsyncMongoClient[dict[str, Any]],
    services: Services,
) -> None:
    request = {"url": site, "max_pages": 100, "max_depth": 3}
    expected = await reference_ledger(client, request)
    assert sum(1 for outcome in expected.values() if outcome == "fetched") == PAGES + 1

    created = await client.post("/api/v1/crawls", json=request)
    location, job_id = created.headers["Location"], created.json()["id"]
    crawls = mongo[services.database].crawls

    async def owned() -> bool:
        doc = await crawls.find_one({"_id": job_id})
        return doc is not None and doc["status"] == "running" and bool(doc.get("worker_id"))

    await eventually(owned, within=60)
    doc = await crawls.find_one({"_id": job_id})
    assert doc is not None
    owner = CRAWLERS[doc["worker_id"]]
    victim = next(name for name in CRAWLERS.values() if name != owner)

    async def victim_served() -> bool:
        return metric(stack, victim, _SERVED) >= 3

    async def victim_extracting() -> bool:
        return metric(stack, victim, "crawler_extractions_serving") >= 1

    await eventually(victim_served, within=60, every=0.05)
    # Its extraction processes frozen, the next request it takes stays in hand, unanswered:
    # the kill below finds it mid-extraction for certain (a page takes milliseconds).
    process = stack.processes[victim]
    for child in children(process.pid):
        os.kill(child, signal.SIGSTOP)
    await eventually(victim_extracting, within=60, every=0.05)
    # kill -9 of the crawler and its extraction processes (its process group), mid-extraction.
    stack.processes.pop(victim)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = time.monotonic()

    job = await wait_status(client, location, FINISHED, within=90)
    assert job["status"] == "completed", job
    assert job["stop_reason"] == "exhausted"
    assert job["attempt"] == 1  # the owner kept its job: nothing stalled, nothing resumed
    assert await ledger(client, location) == expected
    assert time.monotonic() - killed_at < 60  # not one page waited for the fallback
    counters = job["counters"]
    assert counters["fetched"] == PAGES + 1
    assert counters["discovered"] == counters["fetched"] + counters["failed"] + counters["skipped"]
    fallbacks = 'crawler_extract_fallbacks_total{reason="timeout"}'
    assert metric(stack, owner, fallbacks) == 0
    # What the killed crawler held came back to the queue and was served by the owner.
    assert "extract.redelivered" in (stack.logs / f"{owner}.log").read_text()
