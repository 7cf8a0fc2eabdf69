"""Writes golden fixtures for messages that have none yet. Existing fixtures are never
rewritten or deleted: they pin what older producers sent.

    uv run python libs/contracts/tests/make_golden.py
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawl_contracts import (
    Counters,
    CrawlCancelled,
    CrawlCancelRequested,
    CrawlCompleted,
    CrawlFailed,
    CrawlHeartbeat,
    CrawlLogged,
    CrawlProgressed,
    CrawlRequest,
    CrawlRequested,
    CrawlResumeRequested,
    CrawlStalled,
    CrawlStarted,
    Outcome,
    PageRecorded,
    SkippedUrl,
    StopReason,
    UrlsSkipped,
)
from crawl_contracts.registry import CURRENT_SCHEMA_VERSION

HERE = Path(__file__).parent / "golden" / f"v{CURRENT_SCHEMA_VERSION}"
BASE: dict[str, Any] = {
    "message_id": "00000000-0000-4000-8000-000000000001",
    "job_id": "0b7e6f1c-3c55-4a53-9d61-7d1f5d0c9a10",
    "tenant": "acme",
    "occurred_at": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    "correlation_id": "req-42",
    "attempt": 1,
    "seq": 7,
}
COUNTERS = Counters(discovered=10, queued=2, in_flight=1, fetched=5, failed=1, skipped=1)
REQUEST = CrawlRequest(
    url="https://example.com/docs/",
    max_pages=50,
    max_depth=2,
    bypass_robots_domains=("example.com",),
)

SAMPLES = [
    CrawlRequested(**BASE, request=REQUEST, submitted_by="alice"),
    CrawlCancelRequested(**BASE, requested_by="alice"),
    CrawlResumeRequested(**BASE, request=REQUEST, reason="stalled"),
    CrawlStarted(**BASE, worker_id="crawler-1"),
    PageRecorded(
        **BASE,
        url="https://example.com/docs/a",
        outcome=Outcome.FETCHED,
        http_status=200,
        depth=1,
        attempts=1,
        content_type="text/html",
        title="A",
        language="en",
        description="About A",
        markdown="# A\n\nText.",
        content_hash="ab" * 32,
    ),
    UrlsSkipped(
        **BASE,
        urls=[
            SkippedUrl(url="https://other.example/", depth=2, reason="out_of_scope"),
            SkippedUrl(url="https://example.com/deep", depth=3, reason="depth_limit"),
        ],
    ),
    CrawlProgressed(**BASE, counters=COUNTERS),
    CrawlLogged(**BASE, level="warning", message="slow host"),
    CrawlHeartbeat(**BASE, worker_id="crawler-1"),
    CrawlCompleted(**BASE, stop_reason=StopReason.PAGE_LIMIT, counters=COUNTERS),
    CrawlFailed(**BASE, error_code="internal_error", error="boom", counters=COUNTERS),
    CrawlCancelled(**BASE, counters=COUNTERS),
    CrawlStalled(**BASE, silent_seconds=31.5, worker_id="crawler-1"),
]


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for message in SAMPLES:
        path = HERE / f"{message.type}.json"
        if not path.exists():
            path.write_text(json.dumps(message.model_dump(mode="json"), indent=2) + "\n")
            print("wrote", path)


if __name__ == "__main__":
    main()
