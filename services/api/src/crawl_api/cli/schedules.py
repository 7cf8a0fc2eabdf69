"""``crawlctl schedules``: crawls that run on their own (``/api/v1/schedules``).

A schedule is named by its whole id or by the first characters of it that only it has among
the caller's schedules (as ``crawlctl schedules ls`` shows them: 8 characters).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from crawl_api.cli.client import ApiClient, CliError, NoSuchCrawlError
from crawl_api.cli.listing import age

__all__ = ["resolve_schedule", "runs_table", "schedule_table", "timing"]

_SHORT = 8
_LISTED = 200  # a prefix is looked for among the caller's newest schedules


class AmbiguousScheduleError(CliError):
    exit_code = 2


def timing(schedule: Mapping[str, Any]) -> str:
    """``every 5s`` or ``cron 0 9 * * 1 (Europe/Paris)``."""
    if schedule.get("every"):
        return f"every {schedule['every']}s"
    zone = schedule.get("timezone") or "UTC"
    return f"cron {schedule.get('cron')}" + ("" if zone == "UTC" else f" ({zone})")


def schedule_table(schedules: Sequence[Mapping[str, Any]], *, now: datetime) -> Table:
    table = Table(
        "id", "state", "when", "next run", "created", "url", box=None, header_style="bold"
    )
    for s in schedules:
        urls = s.get("urls") or []
        url = str(urls[0]) + (f" (+{len(urls) - 1})" if len(urls) > 1 else "") if urls else ""
        table.add_row(
            str(s.get("id"))[:_SHORT],
            "paused" if s.get("paused") else "active",
            Text(timing(s)),
            str(s.get("next_run_at") or "-"),
            age(s.get("created_at"), now),
            Text(url),
        )
    return table


def runs_table(runs: Sequence[Mapping[str, Any]]) -> Table:
    """A schedule's runs, newest first: tick, when it fired, what it made and their status."""
    table = Table("tick", "fired", "missed", "jobs", box=None, header_style="bold")
    for run in runs:
        jobs = run.get("jobs") or []
        made = ", ".join(f"{str(j.get('job_id'))[:_SHORT]} {j.get('status')}" for j in jobs)
        table.add_row(
            str(run.get("tick")),
            str(run.get("fired_at")),
            str(run.get("missed") or 0),
            Text(made or f"none: {run.get('skipped')}"),
        )
    return table


def resolve_schedule(client: ApiClient, ref: str) -> str:
    """The id of the caller's schedule that ``ref`` names (whole, or its start)."""
    if len(ref) == 36:
        return ref
    matches = [s["id"] for s in client.schedules(limit=_LISTED) if str(s["id"]).startswith(ref)]
    if len(matches) == 1:
        return str(matches[0])
    if not matches:
        raise NoSuchCrawlError(f"no schedule matches {ref}")
    raise AmbiguousScheduleError(f"{ref} matches {len(matches)} schedules; give more of its id")
