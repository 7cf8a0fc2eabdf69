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
    CrawlReleased,
    CrawlRequest,
    CrawlRequested,
    CrawlResumeRequested,
    CrawlStalled,
    CrawlStarted,
    ExtractionFailure,
    ExtractRequested,
    Outcome,
    PageExtracted,
    PageRecorded,
    PagesRecorded,
    SkippedUrl,
    StopReason,
    UrlsSkipped,
)
from crawl_contracts.registry import CURRENT_SCHEMA_VERSION

HERE = Path(__file__).parent / "golden" / f"v{CURRENT_SCHEMA_VERSION}"
# Request/reply messages between services (not crawl events), pinned the same way.
REPLIES = Path(__file__).parent / "golden" / "requests"
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
    PagesRecorded(
        **BASE,
        pages=[
            PageRecorded(
                **{**BASE, "message_id": "00000000-0000-4000-8000-000000000002"},
                url="https://example.com/docs/b",
                outcome=Outcome.FETCHED,
                http_status=200,
                depth=1,
                content_type="text/html",
                title="B",
                markdown="# B\n\nText.",
                content_hash="cd" * 32,
                links=("https://example.com/docs/c",),
            ),
            PageRecorded(
                **{**BASE, "message_id": "00000000-0000-4000-8000-000000000003", "seq": 9},
                url="https://example.com/docs/gone",
                outcome=Outcome.FAILED,
                reason="http_error",
                http_status=404,
                depth=1,
            ),
        ],
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
    CrawlReleased(
        **BASE,
        worker_id="crawler-1",
        reason="shutdown",
        counters=Counters(discovered=10, queued=3, fetched=5, failed=1, skipped=1),
    ),
]

REQUEST_SAMPLES: list[tuple[str, Any]] = [
    (
        "ExtractRequested",
        ExtractRequested(
            **BASE,
            url="https://example.com/docs/a",
            body=b"<html><head><title>A</title></head><body><p>Text.</p></body></html>",
            deadline=datetime(2026, 1, 2, 3, 4, 35, 678000, tzinfo=UTC),
        ),
    ),
    (
        "PageExtracted",
        PageExtracted(
            message_id="00000000-0000-4000-8000-000000000002",
            job_id=BASE["job_id"],
            url="https://example.com/docs/a",
            title="A",
            markdown="Text.",
            language="en",
            description="About A",
            content_hash="ab" * 32,
            links=("b.html", "../index.html"),
            canonical="https://example.com/docs/a",
            seconds=0.095,
            extractor_id="crawler-2",
        ),
    ),
    (
        "PageExtracted.failed",
        PageExtracted(
            message_id="00000000-0000-4000-8000-000000000003",
            job_id=BASE["job_id"],
            url="https://example.com/docs/calendar.pdf",
            error=ExtractionFailure(
                kind="document", reason="pdf_encrypted", detail="the document needs a password"
            ),
            seconds=0.002,
            extractor_id="crawler-2",
        ),
    ),
]


def _write(path: Path, message: Any) -> None:
    if not path.exists():
        # As the broker carries it (bytes as base64), not as a Python dump.
        path.write_text(json.dumps(json.loads(message.model_dump_json()), indent=2) + "\n")
        print("wrote", path)


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for message in SAMPLES:
        _write(HERE / f"{message.type}.json", message)
    REPLIES.mkdir(parents=True, exist_ok=True)
    for name, message in REQUEST_SAMPLES:
        _write(REPLIES / f"{name}.json", message)


if __name__ == "__main__":
    main()
