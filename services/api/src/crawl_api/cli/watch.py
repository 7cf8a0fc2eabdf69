"""``crawlctl crawl --watch``: a live progress bar of one job until it ends.

The job is polled (every ``interval`` seconds, with ``If-None-Match`` unnecessary at this
rate) and drawn with rich: a bar of settled URLs over discovered ones, the counters and the
fetch rate. Polling stops at the first terminal status, as every client of the API does.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from crawl_api.cli.client import ApiClient

__all__ = ["TERMINAL", "RateMeter", "watch"]

TERMINAL = frozenset({"completed", "failed", "cancelled"})


class RateMeter:
    """Pages per second over the last ``window`` seconds of samples (pure: unit-tested)."""

    def __init__(self, window: float = 5.0) -> None:
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, at: float, fetched: int) -> float:
        self._samples.append((at, fetched))
        while len(self._samples) > 2 and at - self._samples[0][0] > self._window:
            self._samples.popleft()
        first_at, first = self._samples[0]
        span = at - first_at
        return (fetched - first) / span if span > 0 else 0.0


def _settled(counters: dict[str, Any]) -> int:
    outcomes = ("fetched", "failed", "skipped", "unchanged")
    return int(sum(counters.get(name, 0) for name in outcomes))


def _describe(job: dict[str, Any]) -> dict[str, Any]:
    c = job.get("counters") or {}
    return {
        "status": job.get("status", "?"),
        "fetched": c.get("fetched", 0),
        "failed": c.get("failed", 0),
        "skipped": c.get("skipped", 0),
    }


def watch(
    client: ApiClient, job_id: str, console: Console, *, interval: float = 0.5
) -> dict[str, Any]:
    """Draw the job's progress until it ends; returns its last view."""
    meter = RateMeter()
    progress = Progress(
        TextColumn("[bold]{task.fields[status]:<10}"),
        BarColumn(bar_width=None),
        TaskProgressColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} URLs"),
        TextColumn(
            "[green]{task.fields[fetched]} fetched[/] [red]{task.fields[failed]} failed[/] "
            "[yellow]{task.fields[skipped]} skipped[/]"
        ),
        TextColumn("{task.fields[rate]:.1f} pages/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        refresh_per_second=8,
    )
    with progress:
        job = client.crawl(job_id)
        task = progress.add_task("crawl", total=1, rate=0.0, **_describe(job))
        while True:
            counters = job.get("counters") or {}
            rate = meter.add(time.monotonic(), int(counters.get("fetched", 0)))
            total = max(int(counters.get("discovered", 0)), 1)
            done = _settled(counters)
            if job.get("status") == "completed":
                done = total = max(done, 1)
            progress.update(task, total=total, completed=done, rate=rate, **_describe(job))
            if job.get("status") in TERMINAL:
                return job
            time.sleep(interval)
            job = client.crawl(job_id)
