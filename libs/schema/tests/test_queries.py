"""The reads: each sort key is bounded by a value of one type in the same filter (what lets
the embedded server answer the sort from its index), and the filters say what they mean."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawl_contracts import CrawlRequest, CrawlRequested
from crawl_schema import new_job_document
from crawl_schema import queries as q
from crawl_schema.keys import LIST_KEY_TOP, list_key_bound, page_id

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def pinned(query: q.Query) -> bool:
    for field, _ in query.sort:
        condition = query.filter.get(field)
        if not isinstance(condition, dict):
            return False
        kinds = {type(v) for v in condition.values()}
        if len(kinds) != 1:
            return False
    return True


def test_every_sorted_read_pins_its_sort_key() -> None:
    reads = [
        q.job_pages("j"),
        q.job_pages("j", after=12, outcome="failed"),
        q.job_logs("j"),
        q.job_logs("j", after=10**12 + 3, newest_first=True),
        q.job_list("acme"),
        q.job_list("acme", statuses=("running", "pending"), host="Example.COM", before="x"),
        q.job_list("acme", created_after=T0, created_before=T0),
        q.expired_jobs(T0),
        q.job_deliveries("j"),
        q.due_deliveries(T0),
        q.assistant_runs("acme", "a1"),
        q.job_pages_by_key("j"),
        q.job_pages_by_key("j", after="00ff"),
    ]
    assert all(pinned(r) for r in reads)


def test_two_jobs_records_of_one_url_stand_at_the_same_place_of_their_key_ranges() -> None:
    url = "http://example.com/a"
    hash_of = {job: page_id(job, url).split(":", 1)[1] for job in ("j1", "j2")}
    assert hash_of["j1"] == hash_of["j2"]
    after = q.job_pages_by_key("j2", after=hash_of["j1"]).filter["_id"]
    assert after == {"$gt": page_id("j2", url), "$lt": "j2;"}
    assert not after["$gt"] < page_id("j2", url) < after["$lt"]  # strictly after the URL
    assert q.job_pages_by_key("j2").filter["_id"] == {"$gte": "j2:", "$lt": "j2;"}


def test_the_job_list_bounds_combine_the_cursor_and_the_creation_window() -> None:
    later = datetime(2026, 12, 7, tzinfo=UTC)
    query = q.job_list("acme", created_after=T0, created_before=later, before="1700000000000:z")
    assert query.filter["list_key"] == {"$lt": "1700000000000:z", "$gte": list_key_bound(T0)}
    assert q.job_list("acme").filter == {"tenant": "acme", "list_key": {"$lt": LIST_KEY_TOP}}
    assert q.job_list("acme", statuses=("running",)).filter["status"] == "running"
    assert q.job_list("acme", host="Docs.Example.com.").filter["host"] == "docs.example.com"
    assert q.job_list("acme").sort == [("list_key", -1)]


def test_a_new_job_is_in_its_tenants_list_and_under_its_host() -> None:
    command = CrawlRequested(
        job_id="job-1", tenant="acme", request=CrawlRequest(url="https://Docs.Example.com/x")
    )
    doc = new_job_document(
        "job-1",
        "acme",
        request=command.request.model_dump(mode="json"),
        created_at=command.occurred_at,
    )
    listed = q.job_list("acme", host="docs.example.com", created_after=command.occurred_at)
    bounds = listed.filter["list_key"]
    assert bounds["$gte"] <= doc["list_key"] < bounds["$lt"]
    assert doc["host"] == listed.filter["host"]
    assert doc["status"] == "pending"


_ID_TEXT = st.text(alphabet=sorted(q.ID_PREFIX_CHARACTERS), max_size=12)


@given(prefix=_ID_TEXT.filter(bool), stored=_ID_TEXT)
def test_an_id_prefix_range_holds_exactly_the_ids_that_start_with_it(
    prefix: str, stored: str
) -> None:
    bounds = q.job_id_prefix(prefix).filter["_id"]
    # the server compares strings by their UTF-8 bytes, which order like their code points
    inside = bounds["$gte"] <= stored < bounds["$lt"]
    assert inside == stored.startswith(prefix)
    assert inside == (prefix.encode() <= stored.encode() < bounds["$lt"].encode())


def test_an_id_prefix_is_an_id_range_in_id_order_and_nothing_else() -> None:
    job_id = "63717066-0c5e-4f43-9b6e-2d6c1e1f0a9d"
    query = q.job_id_prefix("6371")
    assert query == q.Query({"_id": {"$gte": "6371", "$lt": "6372"}}, [("_id", 1)])
    assert pinned(query)
    assert q.job_id_prefix(job_id).filter["_id"]["$lt"] == job_id[:-1] + "e"
    assert q.job_id_prefix("6371706f").filter["_id"]["$lt"] == "6371706g"
    assert q.job_id_prefix("63717066-").filter["_id"]["$lt"] == "63717066."
    # every end stays a string the embedded server compares through its _id index
    for last in q.ID_PREFIX_CHARACTERS:
        end = q.job_id_prefix("ab" + last).filter["_id"]["$lt"]
        assert end[-1] >= "#"
        assert end[-1] not in '"\\<>&'


@pytest.mark.parametrize("prefix", ["", "63 7", "63717066:", "abc\u00e9", 'a"b', "a\\b", "a/b"])
def test_a_string_that_is_no_id_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="not an id prefix"):
        q.job_id_prefix(prefix)
