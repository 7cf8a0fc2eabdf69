"""HTML of the dashboard, rendered on the server from plain string templates.

Every value taken from a document or a request goes through ``esc`` (HTML escaping), so a page
title or URL crawled from the web cannot inject markup. Live parts are rendered as fragments
that ``dashboard.js`` fetches and swaps in; the first render of a page includes them, so the
dashboard reads the same without JavaScript.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from crawl_api.dashboard.reads import Overview, RateSeries
from crawl_contracts import JobStatus

__all__ = [
    "BASE",
    "esc",
    "layout",
    "live",
    "login_page",
    "overview_fragment",
    "overview_page",
    "page_text_page",
    "run_fragment",
    "run_page",
    "runs_fragment",
    "runs_page",
    "status_badge",
]

BASE = "/dashboard"
_TERMINAL = {JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value}
_COUNTERS = ("discovered", "queued", "in_flight", "fetched", "unchanged", "failed", "skipped")


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def layout(title: str, body: str, *, tenant: str | None = None) -> str:
    who = (
        f'<span class="who">tenant <b>{esc(tenant)}</b></span>'
        f'<form method="post" action="{BASE}/logout"><button class="link">Sign out</button></form>'
        if tenant
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · Crawl dashboard</title>
<link rel="stylesheet" href="{BASE}/static/dashboard.css">
<script src="{BASE}/static/dashboard.js" defer></script>
</head><body>
<header><a class="brand" href="{BASE}">Crawl dashboard</a>
<nav><a href="{BASE}">Runs</a><a href="{BASE}/schedules">Schedules</a>
<a href="{BASE}/overview">Overview</a></nav>{who}</header>
<main>{body}</main></body></html>"""


def status_badge(status: str) -> str:
    return f'<span class="status status-{esc(status)}">{esc(status.capitalize())}</span>'


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m {seconds % 60:02.0f}s"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h {seconds % 3600 // 60:02.0f}m"
    return f"{seconds // 86400:.0f}d {seconds % 86400 // 3600:.0f}h"


def _age(doc: dict[str, Any], now: datetime) -> str:
    created = doc.get("created_at")
    return _span((now - created).total_seconds()) if created else "-"


def _duration(doc: dict[str, Any], now: datetime) -> str:
    started = doc.get("started_at")
    if started is None:
        return "-"
    return _span(((doc.get("finished_at") or now) - started).total_seconds())


def _url(doc: dict[str, Any]) -> str:
    return str((doc.get("request") or {}).get("url") or "")


def _counters(doc: dict[str, Any]) -> dict[str, int]:
    raw = doc.get("counters") or {}
    return {k: int(raw.get(k, 0)) for k in _COUNTERS}


def _options(values: list[str], selected: str | None, empty: str) -> str:
    out = [f'<option value="">{esc(empty)}</option>']
    for value in values:
        chosen = " selected" if value == selected else ""
        out.append(f'<option value="{esc(value)}"{chosen}>{esc(value)}</option>')
    return "".join(out)


def live(url: str, interval_ms: int, inner: str) -> str:
    return f'<div id="live" data-live-url="{esc(url)}" data-interval="{interval_ms}">{inner}</div>'


# -- sign-in ------------------------------------------------------------------------------


def login_page(error: str | None = None, next_url: str = BASE) -> str:
    message = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    body = f"""<section class="card narrow"><h1>Sign in</h1>
<p>Use the same bearer token as for the API. It is kept in a cookie for this dashboard only.</p>
{message}
<form method="post" action="{BASE}/login">
<input type="hidden" name="next" value="{esc(next_url)}">
<label>API token <input type="password" name="token" autocomplete="current-password" required
 autofocus></label>
<button type="submit">Sign in</button></form></section>"""
    return layout("Sign in", body)


# -- runs ---------------------------------------------------------------------------------


def runs_fragment(runs: list[dict[str, Any]], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    if not runs:
        return '<p class="empty">No runs match.</p>'
    rows = []
    for doc in runs:
        c = _counters(doc)
        rows.append(
            f"""<tr data-run-id="{esc(doc["_id"])}"><td>{status_badge(str(doc.get("status")))}</td>
<td class="url"><a href="{BASE}/runs/{quote(str(doc["_id"]))}">{esc(_url(doc))}</a></td>
<td class="num">{c["fetched"]}</td><td class="num">{c["failed"]}</td>
<td class="num">{c["skipped"]}</td><td class="num">{c["discovered"]}</td>
<td>{_age(doc, now)}</td><td>{_duration(doc, now)}</td></tr>"""
        )
    return f"""<table class="runs"><thead><tr><th>Status</th><th>Start URL</th>
<th class="num">Fetched</th><th class="num">Failed</th><th class="num">Skipped</th>
<th class="num">Discovered</th><th>Age</th><th>Duration</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>"""


def runs_page(
    runs: list[dict[str, Any]],
    *,
    tenant: str,
    status: str | None,
    host: str | None,
    error: str | None = None,
) -> str:
    query = urlencode({k: v for k, v in (("status", status), ("host", host)) if v})
    statuses = [s.value for s in JobStatus]
    problem = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    body = f"""<h1>Runs</h1>
<details class="card"{" open" if error else ""}><summary>New crawl</summary>{problem}
<form class="filters" method="post" action="{BASE}/runs">
<label>Start URL <input name="url" type="url" required size="50"
 placeholder="https://example.com/"></label>
<label>Max pages <input name="max_pages" type="number" min="1" value="100"></label>
<label>Max depth <input name="max_depth" type="number" min="0" value="3"></label>
<button type="submit">Start crawl</button></form></details>
<form class="filters" method="get" action="{BASE}">
<label>Status <select name="status">{_options(statuses, status, "any")}</select></label>
<label>Host <input name="host" value="{esc(host)}" placeholder="example.com"></label>
<button type="submit">Filter</button></form>
{live(f"{BASE}/fragments/runs?{query}", 2000, runs_fragment(runs))}"""
    return layout("Runs", body, tenant=tenant)


# -- one run ------------------------------------------------------------------------------


def _chart(series: RateSeries | None) -> str:
    if series is None or not series.rates:
        return '<p class="empty">No pages yet.</p>'
    width, height = 300, 60
    peak = max(*series.rates, 0.001)
    bar = width / len(series.rates)
    bars = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - r / peak * height:.1f}" '
        f'width="{max(bar - 1, 1):.1f}" height="{r / peak * height:.1f}"></rect>'
        for i, r in enumerate(series.rates)
    )
    return f"""<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}"
 role="img" aria-label="pages per second over the run, peak {peak:.1f}">{bars}</svg>
<p class="hint">peak {peak:.1f} pages/s · {series.bucket_seconds:.1f} s per bar</p>"""


def _logs(lines: list[dict[str, Any]]) -> str:
    if not lines:
        return '<p class="empty">No log lines yet.</p>'
    out = []
    for line in lines:
        at = line.get("at")
        stamp = at.strftime("%H:%M:%S") if isinstance(at, datetime) else ""
        out.append(
            f'<div class="log log-{esc(line.get("level"))}"><time>{stamp}</time> '
            f"<b>{esc(line.get('level'))}</b> {esc(line.get('message'))}</div>"
        )
    return f'<div class="logs" id="log-tail">{"".join(out)}</div>'


def _pages_table(
    job_id: str, pages: list[dict[str, Any]], next_cursor: str | None, query: dict[str, str]
) -> str:
    if not pages:
        return '<p class="empty">No pages match.</p>'
    rows = []
    for p in pages:
        key = str(p["_id"]).split(":", 1)[1]
        text = (
            f'<a href="{BASE}/runs/{quote(job_id)}/pages/{quote(key)}">text</a>'
            if p.get("outcome") == "fetched"
            else ""
        )
        rows.append(
            f"""<tr><td class="url" title="{esc(p.get("url"))}">{esc(p.get("url"))}</td>
<td><span class="outcome outcome-{esc(p.get("outcome"))}">{esc(p.get("outcome"))}</span></td>
<td>{esc(p.get("reason") or "")}</td><td class="num">{esc(p.get("http_status") or "")}</td>
<td class="num">{esc(p.get("depth"))}</td><td>{esc(p.get("title") or "")}</td>
<td>{text}</td></tr>"""
        )
    more = ""
    if next_cursor:
        more = (
            f'<a class="more" href="{BASE}/runs/{quote(job_id)}?'
            f'{urlencode({**query, "cursor": next_cursor})}">Next pages →</a>'
        )
    return f"""<table class="pages"><thead><tr><th>URL</th><th>Outcome</th><th>Reason</th>
<th class="num">HTTP</th><th class="num">Depth</th><th>Title</th><th></th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>{more}"""


def run_fragment(
    run: dict[str, Any],
    *,
    rates: RateSeries | None,
    logs: list[dict[str, Any]],
    pages: list[dict[str, Any]],
    next_cursor: str | None,
    query: dict[str, str],
    now: datetime | None = None,
) -> str:
    now = now or datetime.now(UTC)
    status = str(run.get("status"))
    terminal = status in _TERMINAL
    c = _counters(run)
    done = c["fetched"] + c["failed"] + c["skipped"] + c["unchanged"]
    percent = 100.0 if status == JobStatus.COMPLETED.value else done / max(c["discovered"], 1) * 100
    current = rates.rates[-1] if rates and rates.rates and not terminal else 0.0
    cancel = (
        ""
        if terminal or status == JobStatus.CANCELLING.value
        else '<button class="danger" data-action="cancel">Cancel crawl</button>'
    )
    counters = "".join(
        f'<div class="counter"><dt>{k.replace("_", " ").capitalize()}</dt>'
        f'<dd id="counter-{k}">{c[k]}</dd></div>'
        for k in _COUNTERS
    )
    stop = f" · stop reason <b>{esc(run.get('stop_reason'))}</b>" if run.get("stop_reason") else ""
    error = run.get("error") or {}
    failure = f'<p class="error">{esc(error.get("message"))}</p>' if error else ""
    job_id = str(run["_id"])
    return f"""<section class="run" data-status="{esc(status)}"
 data-terminal="{"true" if terminal else "false"}">
<div class="run-head">{status_badge(status)}<span class="meta">age {_age(run, now)} · duration
 {_duration(run, now)}{stop}</span>{cancel}</div>{failure}
<div class="progress progress-{esc(status)}" role="progressbar" aria-valuemin="0"
 aria-valuemax="100" aria-valuenow="{percent:.0f}"><div style="width:{percent:.1f}%"></div>
<span>{done} / {c["discovered"]} URLs · {percent:.0f}%</span></div>
<dl class="counters">{counters}<div class="counter"><dt>Pages/s</dt>
<dd id="counter-rate">{current:.1f}</dd></div></dl>
<div class="grid"><div class="card"><h2>Pages per second</h2>{_chart(rates)}</div>
<div class="card"><h2>Log tail</h2>{_logs(logs)}</div></div>
<div class="card"><h2>Pages</h2>{_pages_table(job_id, pages, next_cursor, query)}</div>
</section>"""


def run_page(
    run: dict[str, Any],
    fragment: str,
    *,
    tenant: str,
    reasons: list[str],
    outcome: str | None,
    reason: str | None,
    query: dict[str, str],
) -> str:
    job_id = str(run["_id"])
    live_query = urlencode(query)
    body = f"""<p><a href="{BASE}">← Runs</a></p>
<h1>Run <code>{esc(job_id)}</code></h1>
<p class="url">{esc(_url(run))}</p>
<form class="filters" method="get" action="{BASE}/runs/{quote(job_id)}">
<label>Outcome <select name="outcome">{
        _options(["fetched", "unchanged", "failed", "skipped"], outcome, "any")
    }</select></label>
<label>Reason <select name="reason">{_options(reasons, reason, "any")}</select></label>
<button type="submit">Filter pages</button></form>
{live(f"{BASE}/fragments/runs/{quote(job_id)}?{live_query}", 1000, fragment)}
<dialog id="cancel-dialog" data-cancel-url="{BASE}/runs/{quote(job_id)}/cancel">
<form method="dialog"><p>Cancel this crawl? Pages already fetched are kept; the rest are
skipped.</p><menu><button value="keep">Keep running</button>
<button class="danger" value="confirm" id="cancel-confirm">Yes, cancel the crawl</button></menu>
</form></dialog>"""
    return layout(f"Run {job_id}", body, tenant=tenant)


def page_text_page(run: dict[str, Any], page: dict[str, Any], *, tenant: str) -> str:
    job_id = str(run["_id"])
    body = f"""<p><a href="{BASE}/runs/{quote(job_id)}">← Run</a></p>
<h1>{esc(page.get("title") or page.get("url"))}</h1>
<p class="url"><a href="{esc(page.get("url"))}" rel="noreferrer noopener">{esc(page.get("url"))}</a>
 · {esc(page.get("language") or "")}</p>
<pre class="text">{esc(page.get("markdown") or "(no text extracted)")}</pre>"""
    return layout(str(page.get("title") or "Page"), body, tenant=tenant)


# -- overview -----------------------------------------------------------------------------


def overview_fragment(overview: Overview, dead_letters: dict[str, int | None]) -> str:
    states = "".join(
        f"<tr><td>{status_badge(status)}</td><td class='num'>{count}</td></tr>"
        for status, count in overview.jobs_by_status.items()
    )
    dead = "".join(
        f"<tr><td><code>{esc(queue)}</code></td>"
        f"<td class='num'>{'?' if count is None else count}</td></tr>"
        for queue, count in dead_letters.items()
    )
    return f"""<div class="grid"><div class="card"><h2>Jobs by state</h2>
<table><tbody>{states}</tbody></table>
<p><small>Finished jobs: those created in the last 24 hours.</small></p></div>
<div class="card"><h2>Fleet</h2><dl class="counters">
<div class="counter"><dt>Pages/s of running jobs (last minute)</dt>
<dd id="fleet-rate">{overview.fleet_pages_per_second:.1f}</dd></div>
<div class="counter"><dt>Running jobs</dt><dd>{overview.running_jobs}</dd></div></dl></div>
<div class="card"><h2>Dead letters</h2><table><tbody>{dead}</tbody></table></div></div>"""


def overview_page(fragment: str, *, tenant: str) -> str:
    body = f"""<h1>Overview</h1>{live(f"{BASE}/fragments/overview", 3000, fragment)}"""
    return layout("Overview", body, tenant=tenant)
