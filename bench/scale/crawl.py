"""Part B: a crawl of the generated site, once without interruption and once with the
crawler killed (SIGKILL) part-way and a new crawler process started.

While a crawl runs, every second: the job's counters over the API (``fetched`` must never
decrease, across the resume too), the crawler's resident memory (main process, and its
extraction pool's processes), and the time; every few seconds the crawler's ``/metrics``
(the largest piece of durable state it wrote, its commits' durations).

Afterwards the job's ledger is read from the database in batches through the
``(job_id, order)`` index and checked against the site: every page ``fetched``, every
off-site link ``skipped`` as ``out_of_scope``, no other record and no URL twice. The two
crawls' ledgers (URL -> outcome and reason) must be equal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pymongo import MongoClient
from pymongo.collection import Collection

from bench.scale import procs
from bench.scale.site import IN_SITE_LINKS, OFF_SITE_LINKS, page_path
from bench.scale.stacks import HEADERS, histogram, metric
from crawl_schema import names
from crawl_schema.queries import job_pages
from crawl_stack import Services, Stack, free_port

__all__ = ["CrawlRun", "check_ledger", "crawl_site", "read_ledger"]

RSS_TARGET = 600 * 1024 * 1024
PIECE_TARGET = 256 * 1024
PACE_FLOOR = 0.85
_LEDGER_BATCH = 10_000
_MIB = 1024 * 1024


@dataclass
class CrawlRun:
    """What one crawl's sampling saw."""

    job_id: str = ""
    samples: list[dict[str, Any]] = field(default_factory=list)
    killed: dict[str, Any] | None = None
    piece_bytes_max: dict[str, float] = field(default_factory=dict)  # crawler -> bytes
    commit_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    job: dict[str, Any] = field(default_factory=dict)


def _crawler(stack: Stack) -> tuple[str, int]:
    (name,) = [n for n in stack.processes if n.startswith("crawler")]
    return name, stack.processes[name].pid


def _scrape(stack: Stack, run: CrawlRun, name: str) -> None:
    url = stack.metrics_urls[name]
    value = metric(url, "crawler_state_piece_bytes_max")
    if value is not None:
        run.piece_bytes_max[name] = max(run.piece_bytes_max.get(name, 0.0), value)
    commits = histogram(url, "crawler_state_commit_seconds")
    if commits:
        run.commit_seconds[name] = commits


def _restart_crawler(stack: Stack, run: CrawlRun, at_fetched: int) -> None:
    """SIGKILL the crawler (its pool processes too, should any outlive it) and start another."""
    name, pid = _crawler(stack)
    _scrape(stack, run, name)
    pool = procs.descendants(pid)
    killed_at = time.monotonic()
    stack.kill(name, signal.SIGKILL)
    time.sleep(1)
    survivors = [p for p in pool if procs.rss_bytes(p)]
    for child in survivors:  # started by the killed crawler: by id, nothing else
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    number = int(name.rsplit("-", 1)[1]) + 1
    successor = f"crawler-{number}"
    port = free_port()
    stack.metrics_urls.pop(name, None)
    stack.metrics_urls[successor] = f"http://127.0.0.1:{port}"
    stack.start(
        successor,
        "crawl_worker",
        CRAWL_WORKER_WORKER_ID=f"bench-{successor}",
        CRAWL_WORKER_METRICS_PORT=str(port),
    )
    run.killed = {
        "at_fetched_api": at_fetched,
        "monotonic": killed_at,
        "pool_survivors_killed": len(survivors),
        "successor": successor,
    }


def crawl_site(
    stack: Stack,
    site: str,
    pages: int,
    max_depth: int,
    *,
    kill_at: float | None = None,
    within: float = 3 * 3600,
) -> CrawlRun:
    """Crawl ``site`` through the API, sampling every second (see the module doc); with
    ``kill_at``, the crawler is killed once ``fetched`` reaches that fraction of ``pages``."""
    run = CrawlRun()
    client = httpx.Client(base_url=stack.api_url, headers=HEADERS, timeout=30)
    try:
        request = {"url": site, "max_pages": pages, "max_depth": max_depth}
        started = time.monotonic()
        created = client.post("/api/v1/crawls", json=request)
        created.raise_for_status()
        run.job_id = created.json()["id"]
        location = created.headers["Location"]
        last_print = last_scrape = started
        while True:
            now = time.monotonic()
            job = client.get(location).json()
            name, pid = _crawler(stack)
            sampled = procs.sample(pid)
            counters = job["counters"]
            run.samples.append(
                {
                    "t": round(now - started, 2),
                    "status": job["status"],
                    "attempt": job.get("attempt"),
                    **{k: counters[k] for k in ("fetched", "skipped", "failed", "discovered")},
                    "crawler": name,
                    "rss": sampled.main_rss,
                    "pool_rss": sampled.children_rss,
                    "pool": sampled.children,
                    "cpu": round(sampled.main_cpu, 2),
                    "pool_cpu": round(sampled.children_cpu, 2),
                }
            )
            if now - last_scrape >= 5:
                _scrape(stack, run, name)
                last_scrape = now
            if now - last_print >= 30:
                rate = counters["fetched"] / max(now - started, 1e-9)
                print(
                    f"    {now - started:7.0f} s  {job['status']:<9} fetched "
                    f"{counters['fetched']:>7,}  skipped {counters['skipped']:>9,}  "
                    f"({rate:.1f} pages/s)  crawler RSS {sampled.main_rss / _MIB:.0f} MiB, "
                    f"pool {sampled.children_rss / _MIB:.0f} MiB",
                    flush=True,
                )
                last_print = now
            if job["status"] in ("completed", "failed", "cancelled"):
                run.job = job
                _scrape(stack, run, name)
                break
            if (
                kill_at is not None
                and run.killed is None
                and counters["fetched"] >= kill_at * pages
            ):
                print(f"    SIGKILL the crawler at fetched {counters['fetched']:,}", flush=True)
                _restart_crawler(stack, run, counters["fetched"])
            if now - started > within:
                raise RuntimeError(f"the crawl did not finish within {within} s")
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
    finally:
        client.close()
    if run.killed is not None:
        run.killed["t"] = round(run.killed.pop("monotonic") - started, 2)
    return run


def summary(run: CrawlRun, pages: int) -> dict[str, Any]:
    """Times, rates, memory and the monotonicity of ``fetched`` from the samples."""
    samples = run.samples
    fetched = [s["fetched"] for s in samples]
    decreases = [
        (samples[i - 1]["t"], fetched[i - 1], fetched[i])
        for i in range(1, len(fetched))
        if fetched[i] < fetched[i - 1]
    ]

    def reached(count: int) -> float | None:
        return next((s["t"] for s in samples if s["fetched"] >= count), None)

    total = samples[-1]["t"]
    q1, q3, end = reached(pages // 4), reached(3 * pages // 4), reached(pages)
    first_rate = (pages // 4) / q1 if q1 else None
    last_rate = (
        (pages - 3 * pages // 4) / (end - q3) if end and q3 is not None and end > q3 else None
    )
    by_crawler: dict[str, dict[str, float]] = {}
    for s in samples:  # CPU: what each process used while this crawl ran
        entry = by_crawler.setdefault(
            s["crawler"],
            {"rss_max": 0, "pool_rss_max": 0, "cpu0": s["cpu"], "pool_cpu0": s["pool_cpu"]},
        )
        entry["rss_max"] = max(entry["rss_max"], s["rss"])
        entry["pool_rss_max"] = max(entry["pool_rss_max"], s["pool_rss"])
        entry["cpu"] = s["cpu"] - entry["cpu0"]
        entry["pool_cpu"] = s["pool_cpu"] - entry["pool_cpu0"]
    rss_max = max(s["rss"] for s in samples)
    result: dict[str, Any] = {
        "job_id": run.job_id,
        "status": run.job.get("status"),
        "stop_reason": run.job.get("stop_reason"),
        "attempt": run.job.get("attempt"),
        "counters": run.job.get("counters"),
        "seconds_to_completed_over_api": total,
        "pages_per_s": round(run.job["counters"]["fetched"] / total, 2),
        "first_quarter_pages_per_s": round(first_rate, 2) if first_rate else None,
        "last_quarter_pages_per_s": round(last_rate, 2) if last_rate else None,
        "crawler_rss_max_mib": round(rss_max / _MIB, 1),
        "pool_rss_max_mib": round(max(s["pool_rss"] for s in samples) / _MIB, 1),
        "per_crawler_process": {
            name: {
                "rss_max_mib": round(v["rss_max"] / _MIB, 1),
                "pool_rss_max_mib": round(v["pool_rss_max"] / _MIB, 1),
                "cpu_s_during_crawl": round(v["cpu"], 1),
                "pool_cpu_s_during_crawl": round(v["pool_cpu"], 1),
            }
            for name, v in by_crawler.items()
        },
        "fetched_decreases": decreases,
        "samples": len(samples),
        "state_piece_bytes_max": max(run.piece_bytes_max.values(), default=None),
        "state_piece_bytes_max_per_crawler": run.piece_bytes_max,
        "state_commits": {
            name: {
                "count": h.get("count"),
                "mean_ms": round(1000 * h["sum"] / h["count"], 1) if h.get("count") else None,
                "over_1s": (h.get("count", 0) - h.get("1.0", 0)),
            }
            for name, h in run.commit_seconds.items()
        },
    }
    finished_at = run.job.get("finished_at")
    created_at = run.job.get("created_at")
    if finished_at and created_at:
        result["seconds_to_terminal_event"] = round(
            (
                datetime.fromisoformat(finished_at.replace("Z", "+00:00"))
                - datetime.fromisoformat(created_at.replace("Z", "+00:00"))
            ).total_seconds(),
            2,
        )
    if first_rate and last_rate:
        result["last_vs_first_quarter"] = round(last_rate / first_rate, 3)
    if run.killed is not None:
        killed = dict(run.killed)
        after = [s for s in samples if s["t"] > killed["t"]]
        before_max = max((s["fetched"] for s in samples if s["t"] <= killed["t"]), default=0)
        moving = next((s["t"] for s in after if s["fetched"] > before_max), None)
        attempt2 = next((s["t"] for s in after if (s["attempt"] or 1) > 1), None)
        killed["resumed_attempt_visible_after_s"] = (
            round(attempt2 - killed["t"], 1) if attempt2 is not None else None
        )
        killed["fetched_growing_again_after_s"] = (
            round(moving - killed["t"], 1) if moving is not None else None
        )
        killed["fetched_before_kill_max"] = before_max
        result["kill"] = killed
    return result


def read_ledger(services: Services, job_id: str) -> tuple[dict[str, str], int]:
    """The job's page records (URL -> ``outcome:reason``), read in order through the
    ``(job_id, order)`` index in batches; and how many records there were."""
    ledger: dict[str, str] = {}
    records = 0
    mongo: MongoClient[dict[str, Any]]
    with MongoClient(services.mongodb_url) as mongo:
        pages: Collection[dict[str, Any]] = mongo[services.database][names.PAGES]
        after: int | None = None
        while True:
            query = job_pages(job_id, after=after)
            batch = list(
                pages.find(query.filter, {"url": 1, "outcome": 1, "reason": 1, "order": 1})
                .sort(query.sort)
                .limit(_LEDGER_BATCH)
            )
            for doc in batch:
                records += 1
                ledger.setdefault(doc["url"], "")
                if ledger[doc["url"]]:
                    ledger[doc["url"]] += "|dup"
                ledger[doc["url"]] += f"{doc['outcome']}:{doc.get('reason') or ''}"
            if len(batch) < _LEDGER_BATCH:
                return ledger, records
            after = batch[-1]["order"]


def check_ledger(ledger: dict[str, str], records: int, site: str, pages: int) -> dict[str, Any]:
    """The ledger against the site: every page fetched, every off-site link skipped as
    out_of_scope, nothing else, no URL twice."""
    base = site.rstrip("/")
    expected: dict[str, str] = {}
    for i in range(pages):
        expected[base + page_path(i)] = "fetched:"
        for j in range(OFF_SITE_LINKS):
            expected[f"http://ext{j}.example/p{i}-{j}"] = "skipped:out_of_scope"
    wrong = [url for url, outcome in expected.items() if ledger.get(url) != outcome]
    extra = [url for url in ledger if url not in expected]
    outcomes: dict[str, int] = {}
    for outcome in ledger.values():
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {
        "records": records,
        "distinct_urls": len(ledger),
        "duplicates": records - len(ledger),
        "by_outcome": outcomes,
        "expected_records": len(expected),
        "missing_or_wrong": len(wrong),
        "unexpected": len(extra),
        "examples": (wrong + extra)[:5],
        "in_site_links_per_page": IN_SITE_LINKS,
        "exact": not wrong and not extra and records == len(expected),
    }


def limits(result: dict[str, Any], pages: int, *, pace: bool = True) -> dict[str, Any]:
    """The targets of one crawl and whether they were met (``pace``: whether the pace
    target applies; a crawl whose crawler was killed pauses on purpose)."""
    ratio = result.get("last_vs_first_quarter")
    piece = result.get("state_piece_bytes_max")
    return {
        "fetched_exact": {
            "target": f"fetched == {pages}",
            "met": (result.get("counters") or {}).get("fetched") == pages,
        },
        "pace": {
            "target": f"last quarter >= {PACE_FLOOR:.0%} of the first (pages/s)"
            if pace
            else "none (the crawler is killed and resumed on purpose)",
            "met": (ratio is not None and ratio >= PACE_FLOOR) if pace else None,
        },
        "crawler_rss": {
            "target": f"crawler main process RSS <= {RSS_TARGET // _MIB} MiB",
            "met": result["crawler_rss_max_mib"] * _MIB <= RSS_TARGET,
        },
        "state_piece": {
            "target": f"largest durable-state write <= {PIECE_TARGET // 1024} KiB (BSON)",
            "met": piece is not None and piece <= PIECE_TARGET,
        },
        "fetched_never_decreases": {
            "target": "fetched never decreases",
            "met": not result["fetched_decreases"],
        },
    }
