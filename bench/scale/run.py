"""``make bench-scale``: reads against a big history, and a crawl of a 200,000-page site.

Part A (``bench.scale.reads``): a database preloaded with 1,000,000 page records and 100,000
jobs of 50 other tenants (``bench.scale.preload``; kept between runs, ``--fresh`` rebuilds
it) and an empty database, each under a stack of its own, measured side by side: read
latencies, idle CPU, GET and POST throughput.

Part B (``bench.scale.crawl``): a generated site of ``--pages`` pages (10 in-site and 5
off-site links each; ``bench.scale.site``, cached under ``.local``) served by nginx, crawled
through the API on a fresh database: once without interruption, once with the crawler killed
at ``--kill-at`` of the pages and a new crawler started; pace, memory, exact counts, the
largest write of durable state, equal ledgers.

Results go to ``bench/results/scale.json`` and are printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.scale import crawl, preload, reads, site
from bench.scale.stacks import services, stack_env
from crawl_stack import running_stack

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "scale.json"
HISTORY_DATABASE = "bench_scale_history"
MONGODB_URL = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
# Part B: a crawler found silent is resumed within seconds (the defaults are a minute).
# The stall window is no shorter than the lease: a resumed attempt waits for the lease it
# takes over to run out, and would itself look silent meanwhile (and be resumed again).
RESUME_ENV = {
    "CRAWL_STATUS_STALL_AFTER": "15",
    "CRAWL_STATUS_STALL_SCAN_INTERVAL": "1",
    "CRAWL_WORKER_LEASE_SECONDS": "15",
    "CRAWL_WORKER_HEARTBEAT_INTERVAL": "2",
    "CRAWL_WORKER_TOTAL_TIMEOUT": "5",
}


def _site_dir(pages: int) -> Path:
    label = f"{pages // 1000}k" if pages % 1000 == 0 else str(pages)
    return ROOT / ".local" / f"bench-site-{label}"


def _write(result: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")


def _phase(result: dict[str, Any], name: str, started: float) -> None:
    seconds = round(time.monotonic() - started, 1)
    result["phases_seconds"][name] = seconds
    print(f"== {name}: {seconds:.0f} s", flush=True)


def part_a(args: argparse.Namespace, result: dict[str, Any]) -> None:
    started = time.monotonic()
    print("== A. reads against a big history", flush=True)
    marker = preload.ensure_preload(
        MONGODB_URL, HISTORY_DATABASE, fresh=args.fresh, jobs_per_tenant=args.history_jobs
    )
    result["preload"] = {
        "database": HISTORY_DATABASE,
        "reused": marker["reused"],
        "counts": marker["counts"],
        "other_tenants": preload.OTHER_TENANTS,
        "bench_tenant_jobs": preload.BENCH_JOBS,
        "running_jobs_of_other_tenants": len(marker.get("running") or []),
        "seconds_when_made": marker["seconds"],
        "insert_seconds_when_made": marker["insert_seconds"],
        "made_at": marker["made_at"],
    }
    counts = marker["counts"]
    print(
        f"  preload {'reused' if marker['reused'] else 'made'}: {counts} "
        f"(made in {marker['seconds']:.0f} s, inserts {marker['insert_seconds']:.0f} s)",
        flush=True,
    )
    _phase(result, "preload", started)
    started = time.monotonic()
    result["preload"]["reset"] = preload.reset(MONGODB_URL, HISTORY_DATABASE)
    small = ROOT / ".local" / "bench-site-12"
    site.small_site(small)
    options = reads.ReadOptions(
        repeats=args.repeats,
        idle_seconds=args.idle_seconds,
        rounds=args.rounds,
        seconds=args.round_seconds,
    )
    with (
        site.nginx(small) as base,
        services(HISTORY_DATABASE) as big,
        services() as empty,
    ):
        result["reads"] = reads.measure_reads(big, empty, base, options)
    _write(result)
    _phase(result, "reads", started)
    started = time.monotonic()
    result["preload"]["reset_after"] = preload.reset(MONGODB_URL, HISTORY_DATABASE)
    _phase(result, "reset", started)


def part_b(args: argparse.Namespace, result: dict[str, Any]) -> None:
    print(f"== B. a crawl of a {args.pages:,}-page site", flush=True)
    started = time.monotonic()
    directory = _site_dir(args.pages)
    made = site.generate(directory, args.pages)
    print(f"  site {'generated' if made else 'reused'}: {directory}", flush=True)
    _phase(result, "site", started)
    max_depth = site.depth(args.pages) + 1
    outcome: dict[str, Any] = {
        "pages": args.pages,
        "max_depth": max_depth,
        "database": "fresh (private), both crawls in it",
        "settings": RESUME_ENV,
        "extract_processes": os.cpu_count(),
    }
    result["crawl"] = outcome
    env = stack_env(preload.BENCH_TENANT, **RESUME_ENV)
    with (
        site.nginx(directory) as base,
        services() as fresh,
        running_stack(fresh, extra_env=env) as stack,
    ):
        ledgers: dict[str, dict[str, str]] = {}
        runs = [("uninterrupted", None), ("killed", args.kill_at)]
        for name, kill_at in runs:
            started = time.monotonic()
            print(f"  crawl ({name}) of {base}", flush=True)
            run = crawl.crawl_site(stack, base, args.pages, max_depth, kill_at=kill_at)
            summary = crawl.summary(run, args.pages)
            _phase(result, f"crawl_{name}", started)
            started = time.monotonic()
            ledger, records = crawl.read_ledger(fresh, run.job_id)
            summary["ledger"] = crawl.check_ledger(ledger, records, base, args.pages)
            summary["ledger_read_seconds"] = round(time.monotonic() - started, 1)
            summary["targets"] = crawl.limits(summary, args.pages, pace=kill_at is None)
            summary["targets"]["ledger_exact"] = {
                "target": "every URL once: pages fetched, off-site links out_of_scope",
                "met": summary["ledger"]["exact"],
            }
            summary["series"] = [
                {k: s[k] for k in ("t", "fetched", "skipped", "rss", "pool_rss", "attempt")}
                for s in run.samples[:: max(1, len(run.samples) // 120)]
            ]
            ledgers[name] = ledger
            outcome[name] = summary
            _write(result)
            print(f"  {name}: {json.dumps({k: v for k, v in summary.items() if k != 'series'})}")
        equal = ledgers["uninterrupted"] == ledgers["killed"]
        outcome["ledgers_equal"] = {
            "target": "the killed run's ledger (url -> outcome) equals the uninterrupted one's",
            "met": equal,
        }
        if not equal:
            a, b = ledgers["uninterrupted"], ledgers["killed"]
            differ = [u for u in a.keys() | b.keys() if a.get(u) != b.get(u)]
            outcome["ledgers_equal"]["differences"] = len(differ)
            outcome["ledgers_equal"]["examples"] = [(u, a.get(u), b.get(u)) for u in differ[:5]]
    _write(result)


def _carry_over(result: dict[str, Any], parts: list[str]) -> None:
    """Keep the previous results of the parts this run skips (with the command and the time
    of the run that measured them), so a part run alone does not erase the other."""
    if not parts or not RESULTS.is_file():
        return
    previous = json.loads(RESULTS.read_text())
    for part in parts:
        if part in previous:
            result[part] = previous[part]
            phases = ("preload", "reads", "reset") if part == "reads" else ("site", "crawl_")
            measured = (previous.get("carried_over") or {}).get(part) or {
                "command": previous.get("command"),
                "started_at": previous.get("started_at"),
                "phases_seconds": {
                    name: seconds
                    for name, seconds in (previous.get("phases_seconds") or {}).items()
                    if name.startswith(phases)
                },
            }
            result.setdefault("carried_over", {})[part] = measured
            if part == "reads" and "preload" in previous:
                result["preload"] = previous["preload"]


def _row(name: str, big: Any, empty: Any, target: str, met: Any) -> str:
    mark = "" if met is None else ("yes" if met else "NO")
    return f"| {name} | {big} | {empty} | {target} | {mark} |"


def table(result: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    lines = ["| figure | big history | empty | target | met |", "|---|---:|---:|---|---|"]
    for name, fig in (result.get("reads") or {}).items():
        if name == "crawled_site":
            continue
        if fig.get("unit") == "ms":
            items = fig.get("items") or fig.get("events") or {}
            shown = {
                side: f"{fig[side]['p50_ms']} / {fig[side]['p95_ms']}"
                + (f" ({items[side]} items)" if side in items else "")
                for side in ("big", "empty")
            }
            lines.append(
                _row(
                    f"{name} p50 / p95 ms", shown["big"], shown["empty"], fig["target"], fig["met"]
                )
            )
        elif name == "idle_cpu":
            lines.extend(
                _row(
                    f"idle CPU {part} (% of a core)",
                    fig["big"][part],
                    fig["empty"][part],
                    fig["target"] if part != "api" else "",
                    fig["met"] if part != "api" else None,
                )
                for part in ("status", "crawler", "crawler_pool", "api")
            )
        else:
            lines.append(
                _row(f"{name} requests/s", fig["big"], fig["empty"], fig["target"], fig["met"])
            )
    outcome = result.get("crawl") or {}
    for run in ("uninterrupted", "killed"):
        summary = outcome.get(run)
        if not summary:
            continue
        counters = summary.get("counters") or {}
        lines.append(
            _row(
                f"crawl {run}: seconds, pages/s (first / last quarter)",
                f"{summary['seconds_to_completed_over_api']:.0f} s, {summary['pages_per_s']} "
                f"({summary['first_quarter_pages_per_s']} / {summary['last_quarter_pages_per_s']})",
                "",
                summary["targets"]["pace"]["target"],
                summary["targets"]["pace"]["met"],
            )
        )
        lines.append(
            _row(
                f"crawl {run}: fetched / skipped",
                f"{counters.get('fetched')} / {counters.get('skipped')}",
                "",
                summary["targets"]["fetched_exact"]["target"],
                summary["targets"]["fetched_exact"]["met"],
            )
        )
        for key in ("crawler_rss", "state_piece", "ledger_exact", "fetched_never_decreases"):
            detail = {
                "crawler_rss": f"{summary['crawler_rss_max_mib']} MiB (pool "
                f"{summary['pool_rss_max_mib']} MiB)",
                "state_piece": f"{summary['state_piece_bytes_max']} bytes",
                "ledger_exact": f"{summary['ledger']['records']} records, "
                f"{summary['ledger']['duplicates']} duplicates",
                "fetched_never_decreases": f"{len(summary['fetched_decreases'])} decreases",
            }[key]
            target = summary["targets"][key]
            lines.append(_row(f"crawl {run}: {key}", detail, "", target["target"], target["met"]))
        if "kill" in summary:
            kill = summary["kill"]
            lines.append(
                _row(
                    "crawl killed: resumed (fetched growing again) after",
                    f"{kill['fetched_growing_again_after_s']} s (killed at "
                    f"{kill['at_fetched_api']} fetched)",
                    "",
                    "~15-30 s",
                    None,
                )
            )
    if "ledgers_equal" in outcome:
        lines.append(
            _row(
                "crawl: ledgers equal",
                "",
                "",
                outcome["ledgers_equal"]["target"],
                outcome["ledgers_equal"]["met"],
            )
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=200_000, help="pages of the crawled site")
    parser.add_argument("--kill-at", type=float, default=0.75, help="fraction fetched at kill")
    parser.add_argument("--skip-crawl", action="store_true", help="part A only")
    parser.add_argument("--skip-reads", action="store_true", help="part B only")
    reuse = parser.add_mutually_exclusive_group()
    reuse.add_argument("--reuse", dest="fresh", action="store_false", help="keep the preload")
    reuse.add_argument("--fresh", dest="fresh", action="store_true", help="rebuild the preload")
    parser.set_defaults(fresh=False)
    parser.add_argument(
        "--history-jobs",
        type=int,
        default=preload.JOBS_PER_TENANT,
        help="jobs per other tenant in the preload (50 tenants, 10 pages per job)",
    )
    parser.add_argument("--repeats", type=int, default=200, help="timed requests per latency")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=6, help="throughput rounds per database")
    parser.add_argument("--round-seconds", type=float, default=5.0)
    args = parser.parse_args()
    command = "make bench-scale"
    if sys.argv[1:]:
        command += f' BENCH_ARGS="{" ".join(sys.argv[1:])}"'
    result: dict[str, Any] = {
        "command": command,
        "started_at": datetime.now(UTC),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "python": platform.python_version(),
        },
        "phases_seconds": {},
    }
    began = time.monotonic()
    skipped = [
        part for part, skip in (("reads", args.skip_reads), ("crawl", args.skip_crawl)) if skip
    ]
    _carry_over(result, skipped)
    if not args.skip_reads:
        part_a(args, result)
    if not args.skip_crawl:
        part_b(args, result)
    result["finished_at"] = datetime.now(UTC)
    result["phases_seconds"]["total"] = round(time.monotonic() - began, 1)
    _write(result)
    print(table(result))
    print(f"written: {RESULTS.relative_to(ROOT)} ({command})")


if __name__ == "__main__":
    main()
