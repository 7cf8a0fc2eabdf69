"""Crawl throughput: our stack against Scrapy on Debian's python3.11-doc HTML, same run.

``make bench-crawl`` (or ``uv run --group bench python -m bench.crawl.run``, with
``RABBITMQ_URL``, ``MONGODB_URL`` and the HTML installed) does, ``--repeat`` times:

1. serves ``/usr/share/doc/python3.11/html`` on loopback with ``python -m http.server``;
2. ours: the API, crawler and status services as processes on a private RabbitMQ vhost and
   database; the time runs from ``POST /api/v1/crawls`` to ``completed`` visible over the API
   (waiting at most ``--api-wait`` seconds after the crawler's terminal event, which a queue
   of the bench's own also receives, so the crawler's own time is known too);
   pages = the terminal event's ``fetched`` counter (HTML pages with distinct text);
3. Scrapy: same start URL, scope, concurrency, robots.txt policy and extraction, in its own
   process; the time is Scrapy's own (spider opened to closed).

It prints pages and pages/s for each and their ratio (medians over the repeats), and writes
``bench/results/crawl.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from crawl_contracts import routing
from tests.conftest import Services
from tests.conftest import private_services as fresh_services
from tests.e2e.stack import free_port, running_stack

ROOT = Path(__file__).resolve().parents[2]
DOCS = Path("/usr/share/doc/python3.11/html")
RESULTS = ROOT / "bench" / "results" / "crawl.json"
MAX_DEPTH = 50
MAX_PAGES = 10_000


@contextmanager
def static_site(directory: Path) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                httpx.get(base, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(10)


@contextmanager
def private_services() -> Iterator[Services]:
    """A fresh vhost and database, as the test suite makes; removed afterwards."""
    amqp = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    mongo = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    management = (
        os.environ.get("RABBITMQ_MANAGEMENT_URL") or f"http://{urlsplit(amqp).hostname}:15672"
    )
    with fresh_services(amqp, management, mongo, prefix="bench") as services:
        yield services


class Tap:
    """A queue of our own on the bench vhost, bound to the terminal events, read through the
    management API: it shows when the crawler finished, however far the projection lags."""

    def __init__(self, services: Services) -> None:
        parts = urlsplit(services.rabbitmq_url)
        self.vhost = quote(unquote(parts.path[1:]), safe="")
        self.api = httpx.Client(
            base_url=services.management_url.rstrip("/"),
            auth=(parts.username or "guest", parts.password or "guest"),
            timeout=30,
        )
        self.api.put(
            f"/api/queues/{self.vhost}/bench.tap", json={"durable": False, "auto_delete": False}
        ).raise_for_status()
        for kind in ("CrawlCompleted", "CrawlFailed", "CrawlCancelled"):
            self.api.post(
                f"/api/bindings/{self.vhost}/e/{routing.EXCHANGE}/q/bench.tap",
                json={"routing_key": routing.routing_key(kind)},
            ).raise_for_status()

    def terminal(self) -> dict[str, Any] | None:
        got = self.api.post(
            f"/api/queues/{self.vhost}/bench.tap/get",
            json={"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"},
        ).json()
        return json.loads(got[0]["payload"]) if got else None


def run_ours(start_url: str, concurrency: int, api_wait: float) -> dict[str, Any]:
    env = {
        "CRAWL_WORKER_CONCURRENCY": str(concurrency),
        "CRAWL_WORKER_PER_HOST_CONCURRENCY": str(concurrency),
        "CRAWL_WORKER_EXTRACT_PROCESSES": str(os.cpu_count() or 1),
        "CRAWL_WORKER_LOG_LEVEL": "WARNING",
        "CRAWL_STATUS_LOG_LEVEL": "WARNING",
        "CRAWL_API_LOG_LEVEL": "WARNING",
    }
    with private_services() as services, running_stack(services, extra_env=env) as stack:
        tap = Tap(services)
        client = httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=30)
        request = {"url": start_url, "max_pages": MAX_PAGES, "max_depth": MAX_DEPTH}
        submitted = datetime.now(UTC)
        started = time.perf_counter()
        location = client.post("/api/v1/crawls", json=request).headers["Location"]
        terminal = None
        while terminal is None:
            time.sleep(0.5)
            terminal = tap.terminal()
        # The crawler's own clock (this machine) says when it sent the terminal event.
        crawler_seconds = (
            datetime.fromisoformat(terminal["occurred_at"]) - submitted
        ).total_seconds()
        if terminal["type"] != "CrawlCompleted":
            raise RuntimeError(f"our crawl ended {terminal['type']}: {terminal.get('error')}")
        # Then the time until the API shows it: the status service has projected every event.
        deadline = time.perf_counter() + api_wait
        visible = False
        while time.perf_counter() < deadline:
            job = client.get(location).json()
            if job["status"] == "completed":
                visible = True
                break
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        projected = job["counters"]
        client.close()
    counters = terminal["counters"]
    return {
        "pages": counters["fetched"],
        "seconds": round(seconds, 2),
        "api_visible": visible,
        "crawler_seconds": round(crawler_seconds, 2),
        "counters": counters,
        "projected_when_measured": projected,
    }


def run_scrapy(start_url: str, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scrapy.json"
        log = ROOT / ".local" / "logs" / "bench-scrapy.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as sink:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.crawl.scrapy_spider",
                    start_url,
                    str(concurrency),
                    str(MAX_DEPTH),
                    str(out),
                ],
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
                check=True,
            )
        result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; medians reported")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight, both")
    parser.add_argument(
        "--api-wait",
        type=float,
        default=600,
        help="seconds to wait, after the crawler finished, for the API to show it",
    )
    args = parser.parse_args()
    if not DOCS.is_dir():
        sys.exit(f"{DOCS} is missing: apt-get install -y python3.11-doc")
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    with static_site(DOCS) as base:
        for i in range(args.repeat):
            theirs.append(run_scrapy(base, args.concurrency))
            print(f"run {i + 1} scrapy: {theirs[-1]}", flush=True)
            ours.append(run_ours(base, args.concurrency, args.api_wait))
            print(f"run {i + 1} ours:   {ours[-1]}", flush=True)

    def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
        pages = int(statistics.median(r["pages"] for r in runs))
        rate = statistics.median(r["pages"] / r["seconds"] for r in runs)
        return {"pages": pages, "pages_per_s": round(rate, 2)}

    result: dict[str, Any] = {"ours": summary(ours), "scrapy": summary(theirs)}
    # Beside the headline (submit to completed visible over the API), when the crawler
    # itself was done: the difference is the status projection catching up.
    result["ours"]["crawler_pages_per_s"] = round(
        statistics.median(r["pages"] / r["crawler_seconds"] for r in ours), 2
    )
    result["ours"]["api_visible"] = all(r["api_visible"] for r in ours)
    ratio = result["ours"]["pages_per_s"] / result["scrapy"]["pages_per_s"]
    page_gap = abs(result["ours"]["pages"] - result["scrapy"]["pages"]) / max(
        result["scrapy"]["pages"], 1
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"site: {DOCS} ({base}), concurrency {args.concurrency}, repeats {args.repeat}")
    print(f"ours:   {result['ours']['pages']} pages, {result['ours']['pages_per_s']} pages/s")
    print(
        f"        crawler done at {result['ours']['crawler_pages_per_s']} pages/s; "
        f"completed visible over the API: {result['ours']['api_visible']}"
    )
    print(f"scrapy: {result['scrapy']['pages']} pages, {result['scrapy']['pages_per_s']} pages/s")
    print(f"ratio:  {ratio:.2f}x (target 2x); page counts differ by {page_gap:.1%} (target 2 %)")
    print(f"written: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
