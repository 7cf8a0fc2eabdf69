"""``crawlctl``'s short ids: what ``ls`` shows, and how a prefix is resolved to one crawl."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from crawl_api.cli import app
from crawl_api.cli.client import AmbiguousIdError, NoSuchCrawlError
from crawl_api.cli.ids import choose, is_full_id, is_prefix, short_ids
from crawl_api.cli.listing import age
from crawl_api.cli.main import config
from crawl_api.idprefix import ID_PREFIX_PATTERN
from crawl_schema.queries import ID_PREFIX_CHARACTERS

A = "63717066-0c5e-4f43-9b6e-2d6c1e1f0a9d"
B = "63717066-9d0a-4b1e-8f43-1c2d3e4f5a6b"  # shares "63717066-" with A
C = "6371a000-1111-4222-8333-444455556666"
JOBS = [
    {
        "id": A,
        "status": "running",
        "url": "https://docs.python.org/3/library/asyncio-task.html#a-very-long-anchor",
        "counters": {"fetched": 1234, "failed": 12, "skipped": 345},
        "created_at": "2026-12-06T08:00:00+00:00",
    },
    {"id": B, "status": "cancelling", "url": "http://x/[bold]", "counters": {}},
    {"id": C, "status": "completed", "url": "http://example.com/", "counters": {"fetched": 3}},
]


def test_ls_shows_eight_characters_and_more_only_where_two_ids_share_them() -> None:
    assert short_ids([A, C]) == {A: "63717066", C: "6371a000"}
    assert short_ids([A, B, C]) == {A: "63717066-0", B: "63717066-9", C: "6371a000"}
    assert short_ids([A, B, C], length=4) == {A: "63717066-0", B: "63717066-9", C: "6371a"}
    assert short_ids(["j1", "job-1", "job-12"]) == {
        "j1": "j1",
        "job-1": "job-1",
        "job-12": "job-12",
    }
    assert short_ids([A, A]) == {A: "63717066"}
    assert short_ids([]) == {}


def test_whole_ids_are_used_as_they_are_and_prefixes_are_looked_up() -> None:
    assert is_full_id(A)
    assert not is_full_id(A.upper())
    assert not is_prefix(A)
    assert is_prefix("6371")
    assert is_prefix("63717066-0c5e")
    assert is_prefix("job-1")
    assert not is_prefix("637")  # too short: taken as a whole id
    assert not is_prefix("ab cd")  # not a character of ids: taken as a whole id


def test_a_prefix_names_its_one_crawl_or_says_why_not() -> None:
    assert choose("6371a", [JOBS[2]]) == C
    assert choose("job-1", [{"id": "job-1"}, {"id": "job-12"}]) == "job-1"  # the exact id wins
    with pytest.raises(NoSuchCrawlError, match="no crawl matches 0000"):
        choose("0000", [])
    with pytest.raises(AmbiguousIdError) as ambiguous:
        choose("63717066", JOBS[:2])
    assert ambiguous.value.exit_code == 2
    lines = ambiguous.value.message.splitlines()
    assert lines[0] == "63717066 matches 2 crawls; give more of its id:"
    assert [line.split()[0] for line in lines[1:]] == [A, B]
    assert all(len(line) <= 79 for line in lines)
    with pytest.raises(AmbiguousIdError, match="matches 2 or more crawls"):
        choose("63717066", JOBS[:2], limit=2)


def test_a_server_that_ignores_the_prefix_leaves_the_id_as_given() -> None:
    assert choose("6371a000", JOBS) == "6371a000"


def test_ages_are_short() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    at = now.isoformat()
    assert age(at, now + timedelta(seconds=42)) == "42s ago"
    assert age(at, now + timedelta(minutes=5, seconds=59)) == "5m ago"
    assert age(at, now + timedelta(hours=3)) == "3h ago"
    assert age("2026-11-24T12:00:00Z", now) == "12d ago"
    assert age(at, now - timedelta(seconds=3)) == "0s ago"  # a clock a little behind
    assert age(None, now) == "-"
    assert age("yesterday", now) == "-"


class FakeApi:
    """The job routes and the job list with ``id_prefix`` over ``JOBS``; records requests."""

    def __init__(self, *, prefixes: bool = True, listing: bool = True) -> None:
        self.prefixes = prefixes
        self.listing = listing
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}?{request.url.query.decode()}")
        path = request.url.path
        if path == "/api/v1/crawls":
            if not self.listing:
                return httpx.Response(405, json={"title": "Method Not Allowed", "detail": "no"})
            prefix = request.url.params.get("id_prefix") if self.prefixes else None
            items = [j for j in JOBS if prefix is None or str(j["id"]).startswith(prefix)]
            return httpx.Response(200, json={"items": items, "next_cursor": None})
        job_id = path.split("/")[4]
        job = next((j for j in JOBS if j["id"] == job_id), None)
        if job is None:
            return httpx.Response(404, json={"title": "Not found", "detail": f"no crawl {job_id}"})
        if request.method == "DELETE":
            return httpx.Response(202, json={"job_id": job_id, "status": "cancelling"})
        if path.endswith("/pages"):
            page = {"url": "http://example.com/", "outcome": "fetched", "http_status": 200}
            return httpx.Response(200, json={"items": [page], "next_cursor": None})
        if path.endswith("/logs"):
            lines = [] if request.url.params.get("after") else [{"seq": 1, "message": "started"}]
            return httpx.Response(200, json={"items": lines})
        return httpx.Response(200, json={**job, "status": "completed"})


@pytest.fixture
def api() -> Iterator[Callable[..., FakeApi]]:
    def install(**options: Any) -> FakeApi:
        fake = FakeApi(**options)
        config.transport = httpx.MockTransport(fake)
        return fake

    yield install
    config.transport = None


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["--token", "t", *args], env={"COLUMNS": "80"})


def test_ls_fits_80_columns_with_ids_that_are_typed_back_whole(
    api: Callable[..., FakeApi],
) -> None:
    api()
    listed = invoke("ls")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert all(len(line) <= 80 for line in lines), listed.output
    shown = [line.split()[0] for line in lines[1:]]
    assert shown == ["63717066-0", "63717066-9", "6371a000"]
    assert "http://x/[bold]" in listed.output  # shown as it is, not as markup
    assert "https://docs.python" in lines[1]
    assert lines[1].rstrip().endswith("…")  # the long URL is cut, not the id
    for short, whole in zip(shown, [A, B, C], strict=True):
        status = invoke("status", short)
        assert status.exit_code == 0, status.output
        assert whole in status.output
    whole_ids = invoke("ls", "--no-trunc")
    assert [line.split()[0] for line in whole_ids.output.splitlines()[1:]] == [A, B, C]


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["status", "6371a"], C),
        (["cancel", "6371a"], f"crawl {C}: cancelling"),
        (["pages", "6371a"], "fetched"),
        (["logs", "6371a"], "started"),
        (["watch", "6371a", "--interval", "0"], "completed"),
    ],
)
def test_every_command_that_takes_an_id_takes_a_prefix(
    api: Callable[..., FakeApi], args: list[str], shown: str
) -> None:
    fake = api()
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert shown in result.output
    assert fake.requests[0] == "GET /api/v1/crawls?id_prefix=6371a&limit=10"
    assert all(C in r for r in fake.requests[1:])


def test_an_ambiguous_prefix_lists_the_candidates_and_exits_2(
    api: Callable[..., FakeApi],
) -> None:
    fake = api()
    result = invoke("cancel", "6371")
    assert result.exit_code == 2
    assert "6371 matches 3 crawls; give more of its id" in result.output
    for job_id in (A, B, C):
        assert job_id in result.output
    assert "http://x/[bold]" in result.output
    assert not any(r.startswith("DELETE") for r in fake.requests), "nothing was cancelled"


def test_an_unknown_prefix_says_no_crawl_matches(api: Callable[..., FakeApi]) -> None:
    api()
    result = invoke("status", "0000")
    assert result.exit_code == 4
    assert "no crawl matches 0000" in result.output
    assert "Traceback" not in result.output


def test_a_whole_id_is_not_looked_up_and_a_short_one_is_taken_whole(
    api: Callable[..., FakeApi],
) -> None:
    fake = api()
    assert invoke("status", C).exit_code == 0
    assert fake.requests == [f"GET /api/v1/crawls/{C}?"]
    unknown = invoke("status", "637")
    assert unknown.exit_code == 4
    assert "no crawl 637" in unknown.output
    assert "4 or more of its first characters" in unknown.output
    assert fake.requests[1] == "GET /api/v1/crawls/637?"


def test_a_server_without_id_prefix_or_the_list_still_takes_whole_ids(
    api: Callable[..., FakeApi],
) -> None:
    fake = api(prefixes=False)  # lists every crawl whatever id_prefix says
    assert invoke("status", "job-1").exit_code == 4  # "job-1" asked for as a whole id
    assert fake.requests[-1] == "GET /api/v1/crawls/job-1?"
    fake = api(listing=False)
    result = invoke("status", "6371a000-1111-4222-8333-444455556666")
    assert result.exit_code == 0
    unlisted = invoke("status", "6371a000")
    assert unlisted.exit_code == 4
    assert fake.requests[-1] == "GET /api/v1/crawls/6371a000?"


def test_the_cli_the_api_and_the_schema_agree_on_what_a_prefix_is() -> None:
    api_pattern = re.compile(ID_PREFIX_PATTERN)
    for code in range(32, 0x250):
        ref = "abc" + chr(code)
        in_schema = chr(code) in ID_PREFIX_CHARACTERS
        assert bool(api_pattern.match(ref)) == in_schema == is_prefix(ref), repr(ref)
    assert not api_pattern.match("abc")
    assert not is_prefix("abc")
    assert api_pattern.match("a" * 64)
    assert is_prefix("a" * 64)
    assert not api_pattern.match("a" * 65)
    assert not is_prefix("a" * 65)
