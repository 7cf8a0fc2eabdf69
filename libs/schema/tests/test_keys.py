"""Key layouts: string order is the order they stand for."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from crawl_contracts import OrderingKey
from crawl_schema.keys import (
    job_range,
    list_key,
    list_key_bound,
    log_id,
    log_id_after,
    page_id,
    state_chunk_id,
    state_chunk_range,
    url_hash,
    url_host,
)

T0 = datetime(2026, 12, 6, 3, 0, 0, 123000, tzinfo=UTC)


def test_list_keys_sort_by_creation_time_then_id() -> None:
    moments = [T0 + timedelta(milliseconds=random.randrange(10**9)) for _ in range(200)]
    keys = [list_key(at, f"job-{i:03d}") for i, at in enumerate(moments)]
    by_key = sorted(range(len(keys)), key=lambda i: keys[i])
    by_time = sorted(range(len(keys)), key=lambda i: (moments[i], f"job-{i:03d}"))
    assert by_key == by_time


def test_a_list_key_bound_separates_jobs_created_before_a_moment_from_the_others() -> None:
    bound = list_key_bound(T0)
    assert list_key(T0 - timedelta(milliseconds=1), "zzz") < bound
    assert list_key(T0, "000") >= bound
    # Whole milliseconds exactly, even where a float product lands a hair below them.
    odd = datetime(2026, 1, 1, 0, 0, 0, 291000, tzinfo=UTC)
    assert list_key_bound(odd).startswith(
        str((odd - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1))
    )


def test_log_ids_sort_in_producer_order_and_stay_in_their_jobs_range() -> None:
    keys = [OrderingKey(a, s) for a in (1, 2, 10) for s in (0, 5, 99, 10**11)]
    ids = [log_id("job", k) for k in keys]
    assert ids == sorted(ids)
    bounds = job_range("job")
    assert all(bounds["$gte"] <= i < bounds["$lt"] for i in ids)
    assert log_id_after("job", OrderingKey(2, 5).number) == log_id("job", OrderingKey(2, 5))
    assert not bounds["$gte"] <= log_id("job2", keys[0]) < bounds["$lt"]


def test_page_ids_name_one_url_of_one_job() -> None:
    assert page_id("j", "http://a/") == page_id("j", "http://a/")
    assert page_id("j", "http://a/") != page_id("j", "http://b/")
    assert page_id("j", "http://a/").startswith("j:")


def test_state_pieces_of_an_attempt_are_one_range_in_number_order() -> None:
    ids = [state_chunk_id("j", 2, n) for n in range(0, 1200, 7)]
    assert ids == sorted(ids)
    window = state_chunk_range("j", 2, 50)
    inside = [i for i in ids if window["$gte"] <= i < window["$lt"]]
    assert inside == [state_chunk_id("j", 2, n) for n in range(0, 50, 7)]
    assert not window["$gte"] <= state_chunk_id("j", 1, 3) < window["$lt"]


def test_url_hashes_are_signed_64_bit_and_stable() -> None:
    values = {url_hash(f"http://example.com/{i}") for i in range(10_000)}
    assert len(values) == 10_000
    assert all(-(2**63) <= v < 2**63 for v in values)
    assert url_hash("http://example.com/") == url_hash("http://example.com/")


def test_hosts_are_lowercase_without_port() -> None:
    assert url_host("https://Docs.Example.COM:8443/a") == "docs.example.com"
    assert url_host("http://127.0.0.1:8700/") == "127.0.0.1"
    assert url_host("not a url") is None
