"""HTML of the dashboard's schedules page: each schedule with its latest runs (same escaping
and live-fragment rules as :mod:`crawl_api.dashboard.views`)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from crawl_api.dashboard.views import BASE, esc, layout, live, status_badge
from crawl_api.schedules import ScheduleRun, ScheduleView

__all__ = ["schedules_fragment", "schedules_page"]


def _timing(schedule: ScheduleView) -> str:
    if schedule.every:
        return f"every {schedule.every}s"
    zone = "" if schedule.timezone == "UTC" else f" ({schedule.timezone})"
    return f"cron {schedule.cron}{zone}"


def _runs(runs: Sequence[ScheduleRun]) -> str:
    if not runs:
        return '<span class="empty">no runs yet</span>'
    items = []
    for run in runs:
        tick = run.tick.strftime("%Y-%m-%d %H:%M:%S")
        late = f' <span class="hint">(+{run.missed} missed)</span>' if run.missed else ""
        if not run.jobs:
            items.append(f"<li>{esc(tick)}: {esc(run.skipped or 'nothing')}{late}</li>")
            continue
        jobs = " ".join(
            f'<a href="{BASE}/runs/{quote(j.job_id)}">{status_badge(j.status)}</a>'
            for j in run.jobs
        )
        items.append(f"<li>{esc(tick)}{late} {jobs}</li>")
    return f'<ul class="schedule-runs">{"".join(items)}</ul>'


def schedules_fragment(schedules: Sequence[tuple[ScheduleView, Sequence[ScheduleRun]]]) -> str:
    if not schedules:
        return (
            '<p class="empty">No schedules. Create one with POST /api/v1/schedules or '
            "<code>crawlctl schedules add</code>.</p>"
        )
    rows = []
    for schedule, runs in schedules:
        state = "paused" if schedule.paused else "active"
        next_run = (
            schedule.next_run_at.strftime("%Y-%m-%d %H:%M:%S") if schedule.next_run_at else "-"
        )
        urls = "<br>".join(esc(u) for u in schedule.urls)
        rows.append(
            f"""<tr data-schedule-id="{esc(schedule.id)}"><td>{esc(schedule.name or "")}</td>
<td>{esc(_timing(schedule))}</td><td>{esc(state)}</td><td>{esc(next_run)}</td>
<td class="url">{urls}</td><td>{_runs(runs)}</td></tr>"""
        )
    return f"""<table class="runs schedules"><thead><tr><th>Name</th><th>When</th><th>State</th>
<th>Next run (UTC)</th><th>Start URLs</th><th>Latest runs</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>"""


def schedules_page(
    schedules: Sequence[tuple[ScheduleView, Sequence[ScheduleRun]]], *, tenant: str
) -> str:
    body = f"""<h1>Schedules</h1>
{live(f"{BASE}/fragments/schedules", 5000, schedules_fragment(schedules))}"""
    return layout("Schedules", body, tenant=tenant)
