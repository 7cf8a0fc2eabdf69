"""``crawlctl`` against the real stack, in a pseudo-terminal where it draws its progress bar."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from typer.testing import CliRunner

from crawl_api.cli import app
from crawl_stack import TOKEN, Services, Stack, free_port, running_stack
from tests.sites.serve import SAMPLE, serving
from tests.sites.slow import slow_site

pytestmark = pytest.mark.e2e

CRAWLCTL = str(Path(sys.executable).with_name("crawlctl"))
_ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(services) as running:
        yield running


def spawn(stack_url: str, *args: str) -> pexpect.spawn[str]:
    env = {**os.environ, "CRAWLCTL_API_URL": stack_url, "CRAWLCTL_TOKEN": TOKEN}
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm-256color"
    return pexpect.spawn(
        CRAWLCTL, list(args), env=env, encoding="utf-8", dimensions=(40, 160), timeout=180
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
    assert "37 fetched" in screen


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
            assert "no crawl whatever" in result.output
