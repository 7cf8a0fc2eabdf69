"""A batch of page records carries whole PageRecorded events of one job's attempt."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crawl_contracts import PageRecorded, PagesRecorded, page_records, parse_message, routing


def _page(seq: int, url: str, *, job_id: str = "job-1", attempt: int = 2) -> PageRecorded:
    return PageRecorded(
        job_id=job_id,
        tenant="acme",
        attempt=attempt,
        seq=seq,
        url=url,
        outcome="fetched",
        depth=1,
        markdown=f"# {url}",
    )


def test_a_batch_gives_its_records_as_they_were_with_their_own_ids_and_keys() -> None:
    pages = [_page(4, "https://example.com/a"), _page(9, "https://example.com/b")]
    batch = PagesRecorded(job_id="job-1", tenant="acme", attempt=2, seq=4, pages=pages)
    again = parse_message(batch.model_dump_json().encode())
    assert isinstance(again, PagesRecorded)
    assert again.records() == pages
    assert [(r.attempt, r.seq) for r in again.records()] == [(2, 4), (2, 9)]
    assert page_records([again]) == pages
    assert routing.routing_key("PagesRecorded") == "crawl.event.pages"


@pytest.mark.parametrize(
    "stranger", [_page(5, "https://x/", job_id="job-2"), _page(5, "https://x/", attempt=1)]
)
def test_a_record_of_another_job_or_attempt_is_refused(stranger: PageRecorded) -> None:
    with pytest.raises(ValidationError, match="not the batch's"):
        PagesRecorded(
            job_id="job-1",
            tenant="acme",
            attempt=2,
            seq=4,
            pages=[_page(4, "https://example.com/a"), stranger],
        )


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(ValidationError):
        PagesRecorded(job_id="job-1", tenant="acme", pages=[])
