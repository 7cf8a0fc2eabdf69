"""``make run``: crawl the sample site through the running stack and show its progress.

Serves ``tests/sites/sample`` (37 pages and a PDF written for this project) on loopback,
submits it to the API with the development token, polls the job until it ends, then prints the
final status and the page count.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.sites.serve import SAMPLE, serving

API = os.environ.get("CRAWL_API_URL", "http://127.0.0.1:8000")
TOKEN = os.environ.get("CRAWL_API_TOKEN", "dev-token")
TERMINAL = {"completed", "failed", "cancelled"}


def bar(done: int, total: int, width: int = 30) -> str:
    filled = 0 if total == 0 else min(width, width * done // total)
    return "#" * filled + "-" * (width - filled)


def main() -> int:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with (
        serving(SAMPLE, int(os.environ.get("SAMPLE_SITE_PORT", "8700"))) as site,
        httpx.Client(base_url=API, headers=headers, timeout=10) as api,
    ):
        print(f"sample site: {site}")
        started = time.monotonic()
        response = api.post("/api/v1/crawls", json={"url": site, "max_pages": 100, "max_depth": 3})
        response.raise_for_status()
        location = response.headers["Location"]
        print(f"submitted:   {response.status_code} {location}")
        while True:
            job = api.get(location).json()
            c = job["counters"]
            done = c["fetched"] + c["failed"] + c["skipped"]
            line = (
                f"\r{job['status']:<10} [{bar(done, c['discovered'])}] {done}/{c['discovered']}"
                f"  fetched {c['fetched']}  failed {c['failed']}  skipped {c['skipped']}"
            )
            print(line, end="", flush=True)
            if job["status"] in TERMINAL:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        pages = api.get(f"{location}/pages", params={"limit": 1000}).json()["items"]
        print()
        print(f"status:      {job['status']} ({job['stop_reason']}) in {elapsed:.1f} s")
        print(f"pages:       {len(pages)} recorded, {c['fetched']} fetched")
        for page in pages[:3]:
            print(f"  - {page['url']}  {page['title']!r}")
        print(f"details:     curl -H 'Authorization: Bearer {TOKEN}' {API}{location}")
    return 0 if job["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
