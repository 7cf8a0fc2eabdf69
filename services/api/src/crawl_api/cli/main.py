"""``crawlctl``: submit, watch, list, cancel and export crawls from a terminal.

A crawl is named by its whole id or by any prefix of at least four characters, such as the
short ids ``crawlctl ls`` shows (:mod:`crawl_api.cli.ids`).

Exit codes: 0 done (a watched job completed), 1 the watched job failed, 2 usage error (also
an id prefix that several crawls share), 3 the watched job was cancelled, 4 the API is
unreachable or refused the request (also no crawl matches the id), 5 the API server lacks
the route, 130 interrupted. Errors are one line on stderr (an ambiguous id lists its
candidates under it), never a traceback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crawl_api.cli.client import ApiClient, ApiRefusedError, CliError
from crawl_api.cli.export import export_pages
from crawl_api.cli.ids import MIN_PREFIX, resolve
from crawl_api.cli.listing import crawl_table
from crawl_api.cli.schedules import resolve_schedule, runs_table, schedule_table, timing
from crawl_api.cli.watch import TERMINAL, watch

__all__ = ["app", "config"]

app = typer.Typer(
    name="crawlctl",
    help="Drive crawls (and their schedules) of the crawl platform's API from a terminal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

_EXIT_FOR_STATUS = {"completed": 0, "failed": 1, "cancelled": 3}


class _Config:
    api_url: str = "http://127.0.0.1:8000"
    token: str | None = None
    transport: httpx.BaseTransport | None = None  # injected by tests (httpx.MockTransport)


config = _Config()


@app.callback()
def _main(
    api_url: Annotated[
        str, typer.Option("--api-url", envvar="CRAWLCTL_API_URL", help="Base URL of the API")
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="CRAWLCTL_TOKEN", help="Bearer token", show_default=False),
    ] = None,
) -> None:
    config.api_url = api_url
    config.token = token


@contextmanager
def _client(ref: str | None = None) -> Iterator[ApiClient]:
    """An API client; ``CliError`` becomes one line on stderr and its exit code. ``ref`` is
    the crawl id the command was given: one too short for a prefix gets a hint if unknown."""
    client = ApiClient(config.api_url, config.token, transport=config.transport)
    try:
        yield client
    except CliError as exc:
        message = exc.message
        unknown = isinstance(exc, ApiRefusedError) and exc.status == 404
        if unknown and ref is not None and len(ref) < MIN_PREFIX:
            message += (
                f"; a crawl is named by its id or {MIN_PREFIX} or more of its first characters"
            )
        err.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted; the crawl itself goes on (see `crawlctl status ID`)")
        raise typer.Exit(130) from None
    finally:
        client.close()


def _counters_line(job: dict[str, Any]) -> str:
    c = job.get("counters") or {}
    return (
        f"{c.get('fetched', 0)} fetched, {c.get('failed', 0)} failed, "
        f"{c.get('skipped', 0)} skipped of {c.get('discovered', 0)} discovered"
    )


def _finish(job: dict[str, Any]) -> None:
    status = str(job.get("status"))
    reason = f" ({job['stop_reason']})" if job.get("stop_reason") else ""
    colour = {"completed": "green", "failed": "red"}.get(status, "yellow")
    out.print(f"[{colour}]{status}[/]{reason}: {_counters_line(job)}", highlight=False)
    if job.get("error"):
        err.print(f"[red]error:[/] {job['error'].get('message')}", highlight=False)
    raise typer.Exit(_EXIT_FOR_STATUS.get(status, 0))


_ID = typer.Argument(
    help=f"Crawl id, whole or its first {MIN_PREFIX} or more characters (as `ls` shows)",
    show_default=False,
)


@app.command()
def crawl(  # noqa: PLR0917  (typer options are parameters)
    url: Annotated[str, typer.Argument(help="Start URL (http or https)")],
    max_pages: Annotated[int, typer.Option(help="Stop after this many pages")] = 100,
    max_depth: Annotated[int, typer.Option(help="Link hops from the start URL")] = 3,
    bypass_robots: Annotated[
        list[str] | None, typer.Option(help="Host whose robots.txt is not consulted (repeat)")
    ] = None,
    watch_: Annotated[
        bool, typer.Option("--watch", "-w", help="Show live progress until the job ends")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls while watching")] = 0.5,
) -> None:
    """Submit a crawl; with --watch, follow it to its end (exit 1 if it failed)."""
    request = {
        "url": url,
        "max_pages": max_pages,
        "max_depth": max_depth,
        "bypass_robots_domains": bypass_robots or [],
    }
    with _client() as client:
        created = client.submit(request)
        job_id = str(created["id"])
        out.print(f"crawl [bold]{job_id}[/] accepted", highlight=False)
        if not watch_:
            return
        job = watch(client, job_id, out, interval=interval)
    _finish(job)


@app.command()
def status(
    job_id: Annotated[str, _ID],
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw JSON")] = False,
) -> None:
    """Show one crawl's status and counters."""
    with _client(job_id) as client:
        job = client.crawl(resolve(client, job_id))
    if as_json:
        out.print_json(json.dumps(job))
        return
    table = Table(show_header=False, box=None)
    for key in ("id", "status", "url", "stop_reason", "created_at", "started_at", "finished_at"):
        table.add_row(f"[dim]{key}", str(job.get(key) or "-"))
    for key, value in (job.get("counters") or {}).items():
        table.add_row(f"[dim]{key}", str(value))
    out.print(table)


@app.command("ls")
def list_crawls(
    status_: Annotated[str | None, typer.Option("--status", help="Only this status")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 20,
    no_trunc: Annotated[
        bool, typer.Option("--no-trunc", help="Whole ids, not their first characters")
    ] = False,
) -> None:
    """List your crawls, newest first, with short ids that other commands accept."""
    with _client() as client:
        body = client.crawls(status=status_, limit=limit)
    table = crawl_table(
        body.get("items", []), width=out.width, now=datetime.now(UTC), whole_ids=no_trunc
    )
    out.print(table, highlight=False)


@app.command()
def cancel(job_id: Annotated[str, _ID]) -> None:
    """Ask a running crawl to stop."""
    with _client(job_id) as client:
        job_id = resolve(client, job_id)
        body = client.cancel(job_id)
    out.print(f"crawl {job_id}: {body.get('status', 'cancelling')}", highlight=False)


@app.command()
def pages(
    job_id: Annotated[str, _ID],
    export: Annotated[
        Path | None,
        typer.Option(help="Write one markdown file per page and index.jsonl into this folder"),
    ] = None,
) -> None:
    """List a crawl's pages, or export them with --export DIR."""
    with _client(job_id) as client:
        job_id = resolve(client, job_id)
        if export is not None:
            files, lines = export_pages(client.pages(job_id), export)
            out.print(f"wrote {files} markdown files and {lines} index lines to {export}")
            return
        table = Table("outcome", "reason", "http", "url")
        for page in client.pages(job_id):
            table.add_row(
                str(page.get("outcome")),
                str(page.get("reason") or ""),
                str(page.get("http_status") or ""),
                str(page.get("url")),
            )
    out.print(table)


@app.command()
def logs(
    job_id: Annotated[str, _ID],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Wait for new lines")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls with --follow")] = 1.0,
) -> None:
    """Print a crawl's log lines; with --follow, until the crawl ends."""
    with _client(job_id) as client:
        job_id = resolve(client, job_id)
        _print_logs(client, job_id, follow=follow, interval=interval, sleep=time.sleep)


@app.command("watch")
def watch_crawl(
    job_id: Annotated[str, _ID],
    interval: Annotated[float, typer.Option(help="Seconds between polls")] = 0.5,
) -> None:
    """Follow a crawl's progress to its end (exit 1 if it failed, 3 if it was cancelled)."""
    with _client(job_id) as client:
        job = watch(client, resolve(client, job_id), out, interval=interval)
    _finish(job)


def _print_logs(
    client: ApiClient,
    job_id: str,
    *,
    follow: bool,
    interval: float,
    sleep: Callable[[float], None],
) -> None:
    after: int | None = None
    while True:
        finished = not follow or client.crawl(job_id).get("status") in TERMINAL
        while True:  # drain every line there is now
            lines = client.logs(job_id, after=after)
            for line in lines:
                out.print(
                    f"[dim]{line.get('at', '')}[/] [bold]{line.get('level', '')}[/] "
                    f"{line.get('message', '')}",
                    highlight=False,
                )
                after = int(line["seq"]) if line.get("seq") is not None else after
            if not lines:
                break
        if finished:
            return
        sleep(interval)


schedules_app = typer.Typer(
    help="Crawls that run on their own: every N seconds or on a cron expression.",
    no_args_is_help=True,
)
app.add_typer(schedules_app, name="schedules")

_SCHEDULE_ID = typer.Argument(
    help="Schedule id, whole or its first characters (as `schedules ls` shows)",
    show_default=False,
)


@schedules_app.command("add")
def add_schedule(  # noqa: PLR0917  (typer options are parameters)
    url: Annotated[str, typer.Argument(help="Start URL (http or https)")],
    every: Annotated[int | None, typer.Option(help="Seconds between runs (at least 5)")] = None,
    cron: Annotated[
        str | None, typer.Option(help='Cron expression, five fields ("0 6 * * 1")')
    ] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone of --cron")] = "UTC",
    max_pages: Annotated[int, typer.Option(help="Stop each run after this many pages")] = 100,
    max_depth: Annotated[int, typer.Option(help="Link hops from the start URL")] = 3,
    since_previous: Annotated[
        bool, typer.Option(help="Each run re-crawls the last completed one (cheap, with changes)")
    ] = False,
    name: Annotated[str | None, typer.Option(help="A label of your own")] = None,
    paused: Annotated[bool, typer.Option(help="Create it paused")] = False,
) -> None:
    """Schedule a crawl of URL every N seconds (--every) or on a cron expression (--cron)."""
    body: dict[str, Any] = {
        "crawl": {"url": url, "max_pages": max_pages, "max_depth": max_depth},
        "timezone": timezone,
        "paused": paused,
    }
    if every is not None:
        body["every"] = every
    if cron is not None:
        body["cron"] = cron
    if since_previous:
        body["since"] = "previous"
    if name:
        body["name"] = name
    with _client() as client:
        made = client.create_schedule(body)
    next_run = made.get("next_run_at") or "when resumed"
    out.print(
        f"schedule [bold]{made['id']}[/] ({timing(made)}); next run {next_run}", highlight=False
    )


@schedules_app.command("ls")
def list_schedules(
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 50,
) -> None:
    """List your schedules, newest first."""
    with _client() as client:
        found = client.schedules(limit=limit)
    out.print(schedule_table(found, now=datetime.now(UTC)), highlight=False)


@schedules_app.command("show")
def show_schedule(
    schedule_id: Annotated[str, _SCHEDULE_ID],
    runs: Annotated[int, typer.Option(help="How many of its latest runs to show")] = 10,
) -> None:
    """Show a schedule and its latest runs with their jobs' status."""
    with _client() as client:
        schedule_id = resolve_schedule(client, schedule_id)
        schedule = client.schedule(schedule_id)
        latest = client.schedule_runs(schedule_id, limit=runs)
    table = Table(show_header=False, box=None)
    table.add_row("[dim]id", schedule_id)
    table.add_row("[dim]state", "paused" if schedule.get("paused") else "active")
    table.add_row("[dim]when", escape(timing(schedule)))
    table.add_row("[dim]next run", str(schedule.get("next_run_at") or "-"))
    table.add_row("[dim]since", str(schedule.get("since") or "-"))
    for url in schedule.get("urls") or []:
        table.add_row("[dim]url", escape(str(url)))
    out.print(table)
    out.print(runs_table(latest), highlight=False)


@schedules_app.command("pause")
def pause_schedule(schedule_id: Annotated[str, _SCHEDULE_ID]) -> None:
    """Pause a schedule: its ticks fire nothing until it is resumed."""
    _schedule_action(schedule_id, "pause")


@schedules_app.command("resume")
def resume_schedule(schedule_id: Annotated[str, _SCHEDULE_ID]) -> None:
    """Resume a paused schedule from its next tick."""
    _schedule_action(schedule_id, "resume")


@schedules_app.command("rm")
def remove_schedule(schedule_id: Annotated[str, _SCHEDULE_ID]) -> None:
    """Delete a schedule (the jobs it made stay)."""
    with _client() as client:
        schedule_id = resolve_schedule(client, schedule_id)
        client.delete_schedule(schedule_id)
    out.print(f"schedule {schedule_id} deleted", highlight=False)


def _schedule_action(schedule_id: str, action: str) -> None:
    with _client() as client:
        schedule_id = resolve_schedule(client, schedule_id)
        state = client.schedule_action(schedule_id, action)
    where = f"next run {state['next_run_at']}" if state.get("next_run_at") else "paused"
    out.print(f"schedule {schedule_id}: {where}", highlight=False)
