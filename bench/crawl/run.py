"""Crawl throughput: our stack against Scrapy on Debian's python3.11-doc HTML, same run.

``make bench-crawl`` (or ``uv run --group bench python -m bench.crawl.run``, with
``RABBITMQ_URL``, ``MONGODB_URL`` and the HTML installed) does, ``--repeat`` times:

1. serves ``/usr/share/doc/python3.11/html`` on loopback with ``python -m http.server``;
2. ours: the API, crawler and status services as processes on a private RabbitMQ vhost and
   database; the time runs from ``POST /api/v1/crawls`` to ``completed`` visible over the API;
   pages = HTML pages downloaded and extracted (fetched, plus those recorded as duplicates);
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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from tests.conftest import Services
from tests.e2e.stack import free_port, running_stack

ROOT = Path(__file__).resolve().parents[2]
DOCS = Path("/usr/share/doc/python3.11/html")
RESULTS = ROOT / "bench" / "results" / "crawl.json"
MAX_DEPTH = 50
MAX_PAGES = 10_000


@contextmanager
def static_site(directory: Path) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
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
    parts = urlsplit(amqp)
    management = os.environ.get("RABBITMQ_MANAGEMENT_URL") or f"http://{parts.hostname}:15672"
    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    auth = (parts.username or "guest", parts.password or "guest")
    api = httpx.Client(base_url=management.rstrip("/"), auth=auth, timeout=10)
    api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
    api.put(
        f"/api/permissions/{quote(vhost, safe='')}/{quote(auth[0], safe='')}",
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()
    vhost_url = urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))
    database = f"bench_{vhost[6:]}"
    try:
        yield Services(vhost_url, management, mongo, database)
    finally:
        api.delete(f"/api/vhosts/{quote(vhost, safe='')}")
        api.close()
        from pymongo import MongoClient  # noqa: PLC0415

        with MongoClient(mongo, serverSelectionTimeoutMS=5000) as sync:
            sync.drop_database(database)


def run_ours(start_url: str, concurrency: int) -> dict[str, Any]:
    env = {
        "CRAWL_WORKER_CONCURRENCY": str(concurrency),
        "CRAWL_WORKER_PER_HOST_CONCURRENCY": str(concurrency),
        "CRAWL_WORKER_EXTRACT_PROCESSES": str(os.cpu_count() or 1),
        "CRAWL_WORKER_LOG_LEVEL": "WARNING",
        "CRAWL_STATUS_LOG_LEVEL": "WARNING",
        "CRAWL_API_LOG_LEVEL": "WARNING",
    }
    with private_services() as services, running_stack(services, env=env) as stack:
        client = httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=30)
        request = {"url": start_url, "max_pages": MAX_PAGES, "max_depth": MAX_DEPTH}
        submitted = datetime.now(UTC)
        started = time.perf_counter()
        location = client.post("/api/v1/crawls", json=request).headers["Location"]
        while True:
            job = client.get(location).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        # When the crawler sent its terminal event (its own clock, this machine): the rest of
        # ``seconds`` is the status service catching up with the events.
        crawler_seconds = (datetime.fromisoformat(job["finished_at"]) - submitted).total_seconds()
        if job["status"] != "completed":
            raise RuntimeError(f"our crawl ended {job['status']}: {job.get('error')}")
        reasons: dict[str, int] = {}
        pages = 0
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            batch = client.get(f"{location}/pages", params=params).json()
            for page in batch["items"]:
                key = page["reason"] or page["outcome"]
                reasons[key] = reasons.get(key, 0) + 1
                if page["outcome"] == "fetched" or page["reason"] in ("duplicate", "non_canonical"):
                    pages += 1
            cursor = batch["next_cursor"]
            if cursor is None:
                break
        client.close()
    return {
        "pages": pages,
        "seconds": round(seconds, 2),
        "crawler_seconds": round(crawler_seconds, 2),
        "outcomes": reasons,
    }


def run_scrapy(start_url: str, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scrapy.json"
        log = ROOT / ".local" / "logs" / "bench-scrapy.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as sink:
            subprocess.run(  # noqa: S603 - our own interpreter and arguments
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
    args = parser.parse_args()
    if not DOCS.is_dir():
        sys.exit(f"{DOCS} is missing: apt-get install -y python3.11-doc")
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    with static_site(DOCS) as base:
        for i in range(args.repeat):
            theirs.append(run_scrapy(base, args.concurrency))
            print(f"run {i + 1} scrapy: {theirs[-1]}", flush=True)
            ours.append(run_ours(base, args.concurrency))
            print(f"run {i + 1} ours:   {ours[-1]}", flush=True)

    def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
        pages = int(statistics.median(r["pages"] for r in runs))
        rate = statistics.median(r["pages"] / r["seconds"] for r in runs)
        return {"pages": pages, "pages_per_s": round(rate, 2)}

    result = {"ours": summary(ours), "scrapy": summary(theirs)}
    ratio = result["ours"]["pages_per_s"] / result["scrapy"]["pages_per_s"]
    page_gap = abs(result["ours"]["pages"] - result["scrapy"]["pages"]) / max(
        result["scrapy"]["pages"], 1
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"site: {DOCS} ({base}), concurrency {args.concurrency}, repeats {args.repeat}")
    print(f"ours:   {result['ours']['pages']} pages, {result['ours']['pages_per_s']} pages/s")
    print(f"scrapy: {result['scrapy']['pages']} pages, {result['scrapy']['pages_per_s']} pages/s")
    print(f"ratio:  {ratio:.2f}x (target 2x); page counts differ by {page_gap:.1%} (target 2 %)")
    print(f"written: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
