"""A batch of skipped URLs stands for one PageRecorded per URL."""

from __future__ import annotations

from crawl_contracts import (
    Outcome,
    PageRecorded,
    SkippedUrl,
    UrlsSkipped,
    page_records,
    parse_message,
)


def _batch() -> UrlsSkipped:
    return UrlsSkipped(
        job_id="job-1",
        tenant="acme",
        attempt=2,
        seq=10,
        urls=[
            SkippedUrl(url="https://other.example/", depth=1, reason="out_of_scope"),
            SkippedUrl(url="https://example.com/deep", depth=4, reason="depth_limit"),
        ],
    )


def test_records_take_consecutive_sequence_numbers_from_the_batch() -> None:
    records = _batch().records()
    assert [type(r) for r in records] == [PageRecorded, PageRecorded]
    assert [(r.attempt, r.seq) for r in records] == [(2, 10), (2, 11)]
    assert [(r.url, r.depth, r.reason) for r in records] == [
        ("https://other.example/", 1, "out_of_scope"),
        ("https://example.com/deep", 4, "depth_limit"),
    ]
    assert {r.outcome for r in records} == {Outcome.SKIPPED}
    assert {r.attempts for r in records} == {0}


def test_a_redelivered_batch_gives_the_same_records() -> None:
    batch = _batch()
    again = parse_message(batch.model_dump_json().encode())
    assert isinstance(again, UrlsSkipped)
    assert again.records() == batch.records()
    assert len({r.message_id for r in batch.records()}) == 2


def test_page_records_expands_batches_in_place() -> None:
    batch = _batch()
    page = PageRecorded(
        job_id="job-1", tenant="acme", seq=9, url="https://example.com/", outcome="fetched", depth=0
    )
    records = page_records([page, batch])
    assert records == [page, *batch.records()]
