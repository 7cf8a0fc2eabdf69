"""``crawlctl`` against the real stack, in a pseudo-terminal where it draws its progress bar
(and, for the short ids, one 80 columns wide)."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from pathlib import Path

import httpx
import pexpect
import pytest
from faststream.rabbit import RabbitBroker
from typer.testing import CliRunner

from crawl_api.cli import app
from crawl_contracts import CrawlRequest, CrawlRequested
from crawl_runtime.publish import publish_message
from crawl_stack import TOKEN, Services, Stack, free_port
from tests.sites.serve import SAMPLE, SAMPLE_URLS, serving
from tests.sites.slow import slow_site

pytestmark = pytest.mark.e2e

CRAWLCTL = str(Path(sys.executable).with_name("crawlctl"))
_ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def spawn(stack_url: str, *args: str, columns: int = 160) -> pexpect.spawn[str]:
    env = {**os.environ, "CRAWLCTL_API_URL": stack_url, "CRAWLCTL_TOKEN": TOKEN}
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm-256color"
    env["COLUMNS"] = str(columns)
    return pexpect.spawn(
        CRAWLCTL, list(args), env=env, encoding="utf-8", dimensions=(40, columns), timeout=180
    )


def run_to_end(child: pexpect.spawn[str]) -> str:
    child.expect(pexpect.EOF)
    child.close()
    return _ANSI.sub("", child.before or "")


def test_crawl_watch_draws_a_bar_that_moves_to_completion_and_exits_0(stack: Stack) -> None:
    # 80 pages of 200 ms each, eight at a time: about two seconds of visible progress.
    with slow_site(pages=80, delay=0.2) as site:
        child = spawn(
            stack.api_url,
            "crawl",
            site,
            "--max-pages",
            "80",
            "--max-depth",
            "10",
            "--watch",
            "--interval",
            "0.1",
        )
        screen = run_to_end(child)
    assert child.exitstatus == 0, screen
    assert "accepted" in screen
    percents = [int(p) for p in re.findall(r"(\d+)%", screen)]
    between = sorted({p for p in percents if 0 < p < 100})
    assert len(between) >= 2, f"the bar did not move: {percents}"
    assert percents[-1] == 100
    assert "80/80 URLs" in screen
    assert re.search(r"completed \(exhausted\): 80 fetched, 0 failed, 0 skipped", screen)
    assert "Traceback" not in screen


def test_crawl_watch_of_the_sample_site_completes(stack: Stack) -> None:
    with serving(SAMPLE) as site:
        child = spawn(stack.api_url, "crawl", site, "--watch")
        screen = run_to_end(child)
    assert child.exitstatus == 0, screen
    assert "100%" in screen
    assert f"{SAMPLE_URLS} fetched" in screen


def test_a_down_api_gives_one_clean_line_and_a_non_zero_exit(stack: Stack) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    child = spawn(closed, "crawl", "http://example.com/", "--watch")
    screen = run_to_end(child)
    assert child.exitstatus == 4
    assert "cannot reach the API at" in screen
    assert "Traceback" not in screen


def test_pages_export_writes_markdown_files_and_a_jsonl_index(stack: Stack, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CRAWLCTL_API_URL": stack.api_url, "CRAWLCTL_TOKEN": TOKEN}
    with serving(SAMPLE) as site:
        done = runner.invoke(
            app, ["crawl", site + "conifers/", "--max-depth", "1", "--watch"], env=env
        )
    assert done.exit_code == 0, done.output
    job_id = re.search(r"crawl (\S+) accepted", done.output)[1]  # type: ignore[index]
    exported = runner.invoke(app, ["pages", job_id, "--export", str(tmp_path)], env=env)
    assert exported.exit_code == 0, exported.output
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    files = sorted(p.name for p in tmp_path.glob("*.md"))
    fetched = [e for e in index if e["outcome"] == "fetched"]
    assert len(files) == len(fetched) == 7  # the conifers index and its six trees
    assert sorted(e["file"] for e in fetched) == files
    assert all(e["file"] is None for e in index if e["outcome"] != "fetched")
    assert len(index) > len(fetched)  # links one hop too deep are listed as skipped
    scots = next(f for f in files if "scots-pine" in f)
    assert "Scots pine" in (tmp_path / scots).read_text()

    status = runner.invoke(app, ["status", job_id], env=env)
    assert status.exit_code == 0
    assert "completed" in status.output


def test_commands_the_server_may_lack_end_cleanly(stack: Stack) -> None:
    runner = CliRunner()
    env = {"CRAWLCTL_API_URL": stack.api_url, "CRAWLCTL_TOKEN": TOKEN}
    for args in (["ls"], ["logs", "whatever"], ["cancel", "whatever"]):
        result = runner.invoke(app, args, env=env)
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        # 5: the route is not there yet; 4: it is and says the crawl does not exist; 0: listed
        assert result.exit_code in (0, 4, 5), (args, result.output)
        if result.exit_code == 5:
            assert "does not offer" in result.output
        if result.exit_code == 4:
            assert "no crawl matches whatever" in result.output


async def _publish(services: Services, command: CrawlRequested) -> None:
    """A crawl requested straight on the broker, as other services may: its id is chosen."""
    broker = RabbitBroker(services.rabbitmq_url, logger=None)
    await broker.connect()
    try:
        await publish_message(broker, command)  # as another service publishes a command
    finally:
        await broker.stop()


def _wait_listed(stack: Stack, job_ids: set[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=30) as client:
        while time.monotonic() < deadline:
            found = {
                job_id
                for job_id in job_ids
                if client.get(f"/api/v1/crawls/{job_id}").status_code == 200
            }
            if found == job_ids:
                return
            time.sleep(0.2)
    raise AssertionError(f"not recorded within {timeout} s: {job_ids - found}")


def _at_80(stack: Stack, *args: str) -> tuple[int, str]:
    child = spawn(stack.api_url, *args, columns=80)
    screen = run_to_end(child)
    return int(child.exitstatus or 0), screen.replace("\r\n", "\n")


async def test_ids_copied_from_ls_at_80_columns_work_and_an_ambiguous_one_lists_its_crawls(
    stack: Stack, services: Services
) -> None:
    # Twins: two crawls whose ids share their first 9 characters, and one ordinary crawl.
    stem = uuid.uuid4().hex[:8]
    twins = [f"{stem}-{str(uuid.uuid4())[9:]}", f"{stem}-{str(uuid.uuid4())[9:]}"]
    with serving(SAMPLE) as sample, slow_site(pages=2000, delay=0.5) as slow:
        for twin in twins:
            request = CrawlRequest(url=sample + "conifers/", max_depth=1)
            await _publish(services, CrawlRequested(job_id=twin, tenant="e2e", request=request))
        code, screen = _at_80(stack, "crawl", slow, "--max-pages", "2000", "--max-depth", "20")
        assert code == 0, screen
        running = re.search(r"crawl (\S+) accepted", screen)[1]  # type: ignore[index]
        _wait_listed(stack, {running, *twins})

        code, listing = _at_80(stack, "ls", "--limit", "50")
        assert code == 0, listing
        lines = [line for line in listing.splitlines() if line.strip()]
        assert all(len(line) <= 80 for line in lines), listing
        assert "…" not in "".join(line.split()[0] for line in lines), "an id was cut"
        shown = {line.split()[0]: line for line in lines[1:]}
        short_running = next(s for s in shown if running.startswith(s))
        assert len(short_running) == 8
        short_twins = [next(s for s in shown if twin.startswith(s)) for twin in twins]
        assert all(len(s) > 9 for s in short_twins), "twins are widened past what they share"
        assert short_twins[0] != short_twins[1]

        code, status = _at_80(stack, "status", short_running)
        assert code == 0, status
        assert running in status
        code, pages = _at_80(stack, "pages", short_running)
        assert code == 0, pages
        assert "outcome" in pages
        for short, twin in zip(short_twins, twins, strict=True):
            code, status = _at_80(stack, "status", short)
            assert code == 0, status
            assert twin in status

        code, ambiguous = _at_80(stack, "status", stem)
        assert code == 2, ambiguous
        assert f"{stem} matches 2 crawls" in ambiguous
        assert all(twin in ambiguous for twin in twins)
        code, unknown = _at_80(stack, "cancel", "zzzz")
        assert code == 4, unknown
        assert "no crawl matches zzzz" in unknown

        async with httpx.AsyncClient(
            base_url=stack.api_url, headers=stack.headers, timeout=30
        ) as api:
            found = await api.get("/api/v1/crawls", params={"id_prefix": stem, "limit": 10})
            assert [job["id"] for job in found.json()["items"]] == sorted(twins)
            assert found.json()["next_cursor"] is None
            mixed = await api.get("/api/v1/crawls", params={"id_prefix": stem, "status": "running"})
            assert mixed.status_code == 400
            too_short = await api.get("/api/v1/crawls", params={"id_prefix": stem[:3]})
            assert too_short.status_code == 422

        code, cancelled = _at_80(stack, "cancel", short_running)
        assert code == 0, cancelled
        assert f"crawl {running}:" in cancelled
        assert "Traceback" not in listing + status + pages + ambiguous + cancelled


def test_schedules_are_added_listed_shown_with_their_runs_paused_and_removed(
    stack: Stack,
) -> None:
    with serving(SAMPLE) as site:
        added = run_to_end(
            spawn(stack.api_url, "schedules", "add", site, "--every", "5", "--max-pages", "2")
        )
        found = re.search(r"schedule ([0-9a-f-]{36}) \(every 5s\); next run", added)
        assert found, added
        schedule_id = found.group(1)
        listed = run_to_end(spawn(stack.api_url, "schedules", "ls"))
        assert schedule_id[:8] in listed
        assert "every 5s" in listed
        assert "active" in listed
        deadline = time.monotonic() + 30
        shown = ""
        while time.monotonic() < deadline and not re.search(
            r"[0-9a-f]{8} (pending|running|completed)", shown
        ):
            time.sleep(1)
            shown = run_to_end(spawn(stack.api_url, "schedules", "show", schedule_id[:8]))
        assert re.search(r"[0-9a-f]{8} (pending|running|completed)", shown), shown
        assert site in shown
        paused = run_to_end(spawn(stack.api_url, "schedules", "pause", schedule_id[:8]))
        assert f"schedule {schedule_id}: paused" in paused
        resumed = run_to_end(spawn(stack.api_url, "schedules", "resume", schedule_id))
        assert "next run" in resumed
        child = spawn(stack.api_url, "schedules", "rm", schedule_id[:8])
        assert f"schedule {schedule_id} deleted" in run_to_end(child)
        assert child.exitstatus == 0
        gone = spawn(stack.api_url, "schedules", "show", schedule_id)
        assert "no schedule" in run_to_end(gone)
        assert gone.exitstatus == 4
