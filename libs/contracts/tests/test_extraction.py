"""Extraction requests and replies: golden fixtures parse, bodies travel as base64, and both
messages survive the trip through JSON unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from crawl_contracts import ExtractionFailure, ExtractRequested, PageExtracted, routing

GOLDEN = Path(__file__).parent / "golden" / "requests"
MODELS: dict[str, type[ExtractRequested] | type[PageExtracted]] = {
    "ExtractRequested": ExtractRequested,
    "PageExtracted": PageExtracted,
}


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden_fixture_parses_and_round_trips(path: Path) -> None:
    body = json.loads(path.read_text())
    model = MODELS[body["type"]]
    message = model.model_validate_json(path.read_bytes())
    assert json.loads(message.model_dump_json()) == body


def test_a_request_carries_the_bytes_as_base64_and_gives_them_back_exactly() -> None:
    page = bytes(range(256)) * 40 + "é ü <p>".encode()
    request = ExtractRequested(
        job_id="j",
        tenant="t",
        url="http://example.com/a",
        body=page,
        deadline=datetime(2026, 1, 1, tzinfo=UTC),
    )
    wire = request.model_dump_json()
    assert isinstance(json.loads(wire)["body"], str)
    assert ExtractRequested.model_validate_json(wire).body == page


def test_a_reply_keeps_every_field_of_the_extraction_or_its_failure() -> None:
    reply = PageExtracted(
        job_id="j",
        url="http://example.com/a",
        title="A",
        markdown="# A\n\ntext",
        language="en",
        description="d",
        content_hash="ab" * 32,
        links=("b", "c"),
        canonical="http://example.com/a",
        base="http://example.com/",
        page_count=3,
    )
    assert PageExtracted.model_validate_json(reply.model_dump_json()) == reply
    failed = PageExtracted(
        job_id="j",
        url="http://example.com/a",
        error=ExtractionFailure(kind="timeout", reason="extraction_timeout"),
    )
    again = PageExtracted.model_validate_json(failed.model_dump_json())
    assert again.error == ExtractionFailure(kind="timeout", reason="extraction_timeout")


def test_a_request_without_its_deadline_or_body_is_refused() -> None:
    with pytest.raises(ValidationError):
        ExtractRequested.model_validate_json(b'{"job_id": "j", "tenant": "t", "url": "u"}')


def test_extraction_requests_stay_out_of_the_status_services_routes() -> None:
    key = routing.WORK_QUEUE_BINDINGS[routing.EXTRACT_REQUESTS_QUEUE]
    assert key == routing.EXTRACT_ROUTING_KEY
    assert not key.startswith("crawl.")  # the status partitions take crawl.#
    assert routing.EXTRACT_REQUESTS_QUEUE in routing.DEAD_LETTERED_QUEUES
