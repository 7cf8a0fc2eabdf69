"""``crawlctl`` against a fake API (httpx.MockTransport): exit codes and clean errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from crawl_api.cli import app
from crawl_api.cli.export import file_name
from crawl_api.cli.main import config
from crawl_api.cli.watch import RateMeter

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def fake_api() -> Iterator[Callable[[Handler], None]]:
    def install(handler: Handler) -> None:
        config.transport = httpx.MockTransport(handler)

    yield install
    config.transport = None


def job(status: str, fetched: int = 3, discovered: int = 5, **extra: object) -> dict[str, object]:
    counters = {"discovered": discovered, "fetched": fetched, "failed": 0, "skipped": 0}
    return {"id": "j1", "status": status, "counters": counters, "stop_reason": None, **extra}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["--token", "secret-token", *args])


def sequence_api(statuses: list[dict[str, object]]) -> Handler:
    remaining = list(statuses)

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer secret-token"
        if request.method == "POST":
            return httpx.Response(202, json={"id": "j1", "status": "pending"})
        return httpx.Response(200, json=remaining.pop(0) if len(remaining) > 1 else remaining[0])

    return handle


@pytest.mark.parametrize(
    ("terminal", "code"),
    [
        (job("completed", 5, 5, stop_reason="exhausted"), 0),
        (job("failed", error={"code": "internal_error", "message": "boom"}), 1),
        (job("cancelled", stop_reason="cancelled"), 3),
    ],
)
def test_watch_exits_by_the_jobs_terminal_status(
    fake_api: Callable[[Handler], None], terminal: dict[str, object], code: int
) -> None:
    fake_api(sequence_api([job("pending", 0, 0), job("running"), terminal]))
    result = invoke("crawl", "http://example.com/", "--watch", "--interval", "0")
    assert result.exit_code == code, result.output
    assert str(terminal["status"]) in result.output
    assert "secret-token" not in result.output


def test_a_refused_request_is_one_line_with_the_problems_detail(
    fake_api: Callable[[Handler], None],
) -> None:
    problem = {
        "title": "Invalid request",
        "detail": "bad",
        "errors": [{"key": "url", "message": "must be http"}],
    }
    fake_api(lambda _: httpx.Response(422, json=problem))
    result = invoke("crawl", "ftp://x")
    assert result.exit_code == 4
    assert "url: must be http" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["ls"], ["cancel", "j1"], ["logs", "j1"]])
def test_routes_a_server_lacks_end_with_exit_5(
    fake_api: Callable[[Handler], None], args: list[str]
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/logs"):
            return httpx.Response(404, json={"title": "Not Found", "detail": "Not Found"})
        return httpx.Response(405, json={"title": "Method Not Allowed", "detail": "nope"})

    fake_api(handle)
    result = invoke(*args)
    assert result.exit_code == 5, result.output
    assert "does not offer" in result.output


def test_an_unknown_job_is_not_mistaken_for_a_missing_route(
    fake_api: Callable[[Handler], None],
) -> None:
    fake_api(lambda _: httpx.Response(404, json={"title": "Not found", "detail": "no crawl j9"}))
    result = invoke("cancel", "j9")
    assert result.exit_code == 4
    assert "no crawl j9" in result.output


def test_logs_follow_prints_new_lines_until_the_job_ends(
    fake_api: Callable[[Handler], None],
) -> None:
    batches = [
        [{"seq": 1, "level": "info", "message": "started", "at": "t1"}],
        [],
        [{"seq": 2, "level": "info", "message": "finished", "at": "t2"}],
        [],
    ]
    statuses = ["running", "completed"]
    seen_after: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/logs"):
            seen_after.append(request.url.params.get("after"))
            return httpx.Response(200, json={"items": batches.pop(0)})
        return httpx.Response(200, json=job(statuses.pop(0) if len(statuses) > 1 else statuses[0]))

    fake_api(handle)
    result = invoke("logs", "j1", "--follow", "--interval", "0")
    assert result.exit_code == 0, result.output
    assert result.output.index("started") < result.output.index("finished")
    assert seen_after == [None, "1", "1", "2"]


def test_pages_export_follows_the_cursor(
    fake_api: Callable[[Handler], None], tmp_path: Path
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") is None:
            items = [
                {"url": "http://e.com/a", "outcome": "fetched", "markdown": "# A", "title": "A"}
            ]
            return httpx.Response(200, json={"items": items, "next_cursor": "j1:x"})
        items = [{"url": "http://e.com/b", "outcome": "skipped", "reason": "robots"}]
        return httpx.Response(200, json={"items": items, "next_cursor": None})

    fake_api(handle)
    result = invoke("pages", "j1", "--export", str(tmp_path))
    assert result.exit_code == 0, result.output
    index = [json.loads(x) for x in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert [e["file"] for e in index] == ["0001-a.md", None]
    assert (tmp_path / "0001-a.md").read_text().endswith("# A\n")


def test_export_file_names_stay_inside_the_folder() -> None:
    assert file_name(3, "http://e.com/../../etc/passwd?x=1") == "0003-etc-passwd-x-1.md"
    assert file_name(1, "http://e.com/") == "0001-index.md"


def test_rate_meter_measures_pages_per_second_over_its_window() -> None:
    meter = RateMeter(window=5)
    assert meter.add(0.0, 0) == 0.0
    assert meter.add(1.0, 10) == 10.0
    assert meter.add(2.0, 30) == 15.0
    assert meter.add(10.0, 30) == 0.0  # the old samples left the window
