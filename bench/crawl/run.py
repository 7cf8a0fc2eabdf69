"""Crawl throughput: our stack against Scrapy on two local corpora, each side in the same run.

Corpora (Debian packages, served from disk on loopback with ``python -m http.server``):

- ``python3.11-doc``: ``/usr/share/doc/python3.11/html``, about 530 large pages (95 KB on
  average; about 95 ms of extraction each): extraction dominates;
- ``apache2-doc``: ``/usr/share/doc/apache2-doc/manual``, Apache httpd's manual in every
  language, 2,685 HTML paths, most of them smaller pages (25 KB served on average), and 1,857
  of them symbolic links to the English page where no translation exists: the cost around
  each page (its events, their projection, the database writes) weighs more.

``make bench-crawl`` (or ``uv run --group bench python -m bench.crawl.run``, with
``RABBITMQ_URL``, ``MONGODB_URL`` and the packages installed) does, for each corpus
(``--corpus`` picks some), ``--repeat`` times:

1. Scrapy: same start URL, scope, concurrency, robots.txt policy and extraction, in its own
   process; the time is Scrapy's own (spider opened to closed);
2. ours: the API, crawler and status services as processes on a private RabbitMQ vhost and
   database; the time runs from ``POST /api/v1/crawls`` to ``completed`` visible over the API
   (waiting at most ``--api-wait`` seconds after the crawler's terminal event, which a queue
   of the bench's own also receives, so the crawler's own time is known too).

On ``python3.11-doc`` ours then crawls the site again ``since`` the first crawl, nothing
changed: conditional requests answered ``304``, nothing extracted again. Its time (submit to
``completed`` visible) is reported beside the first crawl's; the target is a fifth of it.

Pages, two ways, both reported. Distinct pages (the headline ratio and the 2 % check): ours'
``fetched`` counter (a page whose text was already seen is recorded ``duplicate``) against the
distinct content hashes of the pages Scrapy parsed: the same site covered, so their ratio is
the ratio of the times. Pages extracted: every page run through the extraction function, ours'
``fetched`` plus its ``duplicate`` / ``non_canonical`` records, against every HTML response
Scrapy parsed. The two crawls extract different numbers of pages where the site serves one text
at many URLs: Scrapy parses every URL it finds (its filter is by URL), ours follows no links out
of a page whose text it has already seen.

CPU (``bench.crawl.cpu``): over our run, every process of the stack from ``/proc``: the API,
the crawler, its extraction pool (the crawler's children), the status service, FerretDB and
RabbitMQ; per page: total, extraction (the pool), and outside extraction per process. Pages up
to ``CRAWL_WORKER_INLINE_EXTRACT_BYTES`` are extracted in the crawler process itself: their
number is reported (that CPU is inside the crawler's figure). Scrapy: its process's CPU
from spider opened to closed, and the part spent in the extraction function.

It prints a table per corpus and writes ``bench/results/crawl.json``: per corpus under
``corpora``, a ``summary``, and for ``python3.11-doc`` also the original top-level ``ours`` /
``scrapy`` keys (``pages`` there is ours' ``fetched``).

``--profile DIR`` runs ours only, under py-spy (``--py-spy``, default from ``PATH``), records
the crawler's and the status service's stacks to ``DIR`` and prints their top functions; it
writes no results (a profiled run is slower).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from bench.crawl.cpu import CpuSampler, pids_named
from bench.crawl.profile import summarise
from crawl_contracts import routing
from crawl_stack import Services, Stack, free_port, running_stack
from crawl_stack import private_services as fresh_services
from crawl_worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "crawl.json"
FERRETDB_PID = ROOT / ".local" / "ferretdb" / "ferretdb.pid"
MAX_DEPTH = 50
MAX_PAGES = 10_000
TARGET_RATIO = 2.0
TARGET_GAP = 0.02
# Skips that come after extraction: the page was fetched and extracted like a fetched one.
EXTRACTED_SKIPS = {("skipped", "duplicate"), ("skipped", "non_canonical")}
EXTRACTED_FAILS = {("failed", "extraction_error")}
OURS_GROUPS = ("api", "crawler", "extraction pool", "crawler (other)", "status")
SHARED_GROUPS = ("ferretdb", "rabbitmq")


@dataclass(frozen=True)
class Corpus:
    name: str  # also the Debian package that installs it
    directory: Path
    recrawl: bool = False  # also time a re-crawl since the first crawl, the site unchanged


CORPORA = {
    c.name: c
    for c in (
        Corpus("python3.11-doc", Path("/usr/share/doc/python3.11/html"), recrawl=True),
        Corpus("apache2-doc", Path("/usr/share/doc/apache2-doc/manual")),
    )
}
DOCS = CORPORA["python3.11-doc"].directory


def inline_extract_bytes() -> int:
    """The crawler's threshold for extracting in its own process (env or default)."""
    raw = os.environ.get("CRAWL_WORKER_INLINE_EXTRACT_BYTES")
    default = WorkerSettings.model_fields["inline_extract_bytes"].default
    return int(raw) if raw else int(default)


def site_facts(directory: Path) -> dict[str, Any]:
    """The corpus on disk: HTML paths (symbolic links followed, as the server does)."""
    sizes: list[int] = []
    links = 0
    for path in directory.rglob("*.html"):
        if path.is_symlink():
            links += 1
        sizes.append(path.stat().st_size)
    threshold = inline_extract_bytes()
    return {
        "directory": str(directory),
        "html_paths": len(sizes),
        "symlinked_html_paths": links,
        "html_bytes_served": sum(sizes),
        "mean_html_bytes": round(statistics.fmean(sizes)) if sizes else 0,
        "median_html_bytes": round(statistics.median(sizes)) if sizes else 0,
        f"html_paths_le_{threshold}_bytes": sum(1 for s in sizes if s <= threshold),
    }


@contextmanager
def static_site(directory: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                httpx.get(base, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(10)


@contextmanager
def private_services() -> Iterator[Services]:
    """A fresh vhost and database, as the test suite makes; removed afterwards."""
    amqp = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    mongo = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    management = (
        os.environ.get("RABBITMQ_MANAGEMENT_URL") or f"http://{urlsplit(amqp).hostname}:15672"
    )
    with fresh_services(amqp, management, mongo, prefix="bench") as services:
        yield services


class Tap:
    """A queue of our own on the bench vhost, bound to the terminal events, read through the
    management API: it shows when the crawler finished, however far the projection lags."""

    def __init__(self, services: Services) -> None:
        parts = urlsplit(services.rabbitmq_url)
        self.vhost = quote(unquote(parts.path[1:]), safe="")
        self.api = httpx.Client(
            base_url=services.management_url.rstrip("/"),
            auth=(parts.username or "guest", parts.password or "guest"),
            timeout=30,
        )
        self.api.put(
            f"/api/queues/{self.vhost}/bench.tap", json={"durable": False, "auto_delete": False}
        ).raise_for_status()
        for kind in ("CrawlCompleted", "CrawlFailed", "CrawlCancelled"):
            self.api.post(
                f"/api/bindings/{self.vhost}/e/{routing.EXCHANGE}/q/bench.tap",
                json={"routing_key": routing.routing_key(kind)},
            ).raise_for_status()

    def terminal(self) -> dict[str, Any] | None:
        got = self.api.post(
            f"/api/queues/{self.vhost}/bench.tap/get",
            json={"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"},
        ).json()
        return json.loads(got[0]["payload"]) if got else None


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _fixed(group: str) -> Any:
    return lambda pid, cmd: group


def _crawler_group(crawler: int) -> Any:
    def classify(pid: int, cmd: str) -> str:
        if pid == crawler:
            return "crawler"
        return "extraction pool" if "spawn_main" in cmd else "crawler (other)"

    return classify


def stack_sampler(stack: Stack, site_pid: int) -> CpuSampler:
    roots = {
        stack.processes["api"].pid: _fixed("api"),
        stack.processes["status"].pid: _fixed("status"),
        stack.processes["crawler-0"].pid: _crawler_group(stack.processes["crawler-0"].pid),
        site_pid: _fixed("site (http.server)"),
    }
    if FERRETDB_PID.exists():
        roots[int(FERRETDB_PID.read_text().split()[0])] = _fixed("ferretdb")
    for pid in pids_named("beam.smp"):
        roots[pid] = _fixed("rabbitmq")
    return CpuSampler(roots)


def cpu_report(
    groups: dict[str, float], sampler: CpuSampler, pages: int, pool: str | None
) -> dict[str, Any]:
    """Per page (ms): each process group, the total over the stack (the site server left
    out: it serves both sides alike), extraction (the pool) and what is outside it."""
    stack = {g: s for g, s in groups.items() if not g.startswith("site")}
    total = sum(stack.values())
    extraction = stack.get(pool, 0.0) if pool else 0.0
    per_page = {g: round(1000 * s / max(pages, 1), 2) for g, s in stack.items()}
    return {
        "seconds": groups,
        "system_seconds": sampler.system(),
        "wall_seconds": round(sampler.wall, 2),
        "machine_busy_seconds": round(sampler.machine, 2),
        "others_seconds": round(sampler.machine - sum(groups.values()), 2),
        "others_top": sampler.others,
        "ms_per_page": per_page,
        "total_ms_per_page": round(1000 * total / max(pages, 1), 2),
        "extraction_ms_per_page": round(1000 * extraction / max(pages, 1), 2),
        "outside_extraction_ms_per_page": round(1000 * (total - extraction) / max(pages, 1), 2),
    }


def page_outcomes(client: httpx.Client, location: str) -> list[dict[str, Any]]:
    fields = "url,outcome,reason,content_hash"
    with client.stream(
        "GET", f"{location}/pages.jsonl", params={"fields": fields}, timeout=120
    ) as response:
        response.raise_for_status()
        return [json.loads(line) for line in response.iter_lines() if line.strip()]


def served_size(directory: Path, base: str, url: str) -> int | None:
    """Bytes ``http.server`` sends for ``url`` (a directory's ``index.html``)."""
    if not url.startswith(base):
        return None
    path = directory / unquote(urlsplit(url).path).lstrip("/")
    if path.is_dir():
        path = path / "index.html"
    try:
        return path.stat().st_size
    except OSError:
        return None


@contextmanager
def profiled(
    stack: Stack, directory: Path | None, tag: str, py_spy: str, *, gil: bool
) -> Iterator[None]:
    """py-spy recording the crawler and the status service (collapsed stacks, per thread;
    with ``gil`` only the samples of the thread holding the GIL: Python's own CPU)."""
    recorders: list[tuple[Path, subprocess.Popen[bytes]]] = []
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("crawler-0", "status"):
            out = directory / f"{tag}-{name}.txt"
            command = [py_spy, "record", "--format", "raw", "--threads", "--rate", "100"]
            command += ["--gil"] if gil else []
            command += ["-d", "3600", "-o", str(out), "-p", str(stack.processes[name].pid)]
            recorders.append(
                (out, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sys.stderr))
            )
    try:
        yield
    finally:
        for _, recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for written, recorder in recorders:
            recorder.wait(60)
            print(f"\nprofile {written}:\n{summarise(written)}", flush=True)


def run_ours(
    corpus: Corpus,
    start_url: str,
    site_pid: int,
    args: argparse.Namespace,
    tag: str,
) -> dict[str, Any]:
    env = {
        "CRAWL_WORKER_CONCURRENCY": str(args.concurrency),
        "CRAWL_WORKER_PER_HOST_CONCURRENCY": str(args.concurrency),
        "CRAWL_WORKER_EXTRACT_PROCESSES": str(os.cpu_count() or 1),
        "CRAWL_WORKER_LOG_LEVEL": "WARNING",
        "CRAWL_STATUS_LOG_LEVEL": "WARNING",
        "CRAWL_API_LOG_LEVEL": "WARNING",
    }
    with private_services() as services, running_stack(services, extra_env=env) as stack:
        tap = Tap(services)
        client = httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=30)
        # The stack at rest for 2 s first: what FerretDB and RabbitMQ take then is other
        # users' (another benchmark's) or background work, not this crawl's.
        idle = stack_sampler(stack, site_pid)
        idle.start()
        time.sleep(2)
        idle_groups = idle.stop()
        sampler = stack_sampler(stack, site_pid)
        load_before = load()
        request = {"url": start_url, "max_pages": MAX_PAGES, "max_depth": MAX_DEPTH}
        with profiled(stack, args.profile, tag, args.py_spy, gil=args.profile_gil):
            sampler.start()
            submitted = datetime.now(UTC)
            started = time.perf_counter()
            location = client.post("/api/v1/crawls", json=request).headers["Location"]
            terminal = completed(tap, "crawl", every=0.5)
            # The crawler's own clock (this machine) says when it sent the terminal event.
            crawler_seconds = (
                datetime.fromisoformat(terminal["occurred_at"]) - submitted
            ).total_seconds()
            # Then the time until the API shows it: the status service has projected it all.
            job, visible = shown_completed(client, location, args.api_wait)
            seconds = time.perf_counter() - started
            groups = sampler.stop()
        load_after = load()
        projected = job["counters"]
        pages = page_outcomes(client, location)
        again = recrawl(client, tap, location, request, args) if corpus.recrawl else None
        client.close()
    outcomes = Counter((p["outcome"], p.get("reason")) for p in pages)
    extracted_urls = [
        p["url"]
        for p in pages
        if p["outcome"] == "fetched" or (p["outcome"], p.get("reason")) in EXTRACTED_SKIPS
    ]
    extracted = len(extracted_urls) + sum(outcomes[k] for k in EXTRACTED_FAILS)
    threshold = inline_extract_bytes()
    sizes = [served_size(corpus.directory, start_url, u) for u in extracted_urls]
    counters = terminal["counters"]
    return {
        "pages": counters["fetched"],
        "pages_extracted": extracted,
        "seconds": round(seconds, 2),
        "distinct_pages_per_s": round(counters["fetched"] / seconds, 2),
        "extracted_pages_per_s": round(extracted / seconds, 2),
        "api_visible": visible,
        "crawler_seconds": round(crawler_seconds, 2),
        "counters": counters,
        "projected_when_measured": projected,
        "outcomes": {f"{o}/{r}" if r else o: n for (o, r), n in sorted(outcomes.items(), key=str)},
        "pages_extracted_inline": sum(1 for s in sizes if s is not None and s <= threshold),
        "load_before": load_before,
        "load_after": load_after,
        "cpu": cpu_report(groups, sampler, extracted, "extraction pool"),
        "idle_cpu_per_s": {
            g: round(s / max(idle.wall, 1e-9), 3) for g, s in idle_groups.items() if s
        },
        "_hashes": {
            p["content_hash"]: p["url"]
            for p in pages
            if p["outcome"] == "fetched" and p.get("content_hash")
        },
        **(
            {"recrawl": again | {"ratio_to_first": round(again["seconds"] / seconds, 3)}}
            if again
            else {}
        ),
    }


def recrawl(
    client: httpx.Client,
    tap: Tap,
    first: str,
    request: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The same crawl again, ``since`` the first, the site unchanged: submit to ``completed``
    visible over the API, as the first crawl is timed."""
    since = first.rsplit("/", 1)[1]
    started = time.perf_counter()
    location = client.post("/api/v1/crawls", json={**request, "since": since}).headers["Location"]
    completed(tap, "re-crawl", every=0.2)
    job, _ = shown_completed(client, location, args.api_wait)
    return {"seconds": round(time.perf_counter() - started, 2), "counters": job["counters"]}


def completed(tap: Tap, what: str, *, every: float) -> dict[str, Any]:
    """The crawl's terminal event, once the tap has it; ``RuntimeError`` unless completed."""
    terminal = None
    while terminal is None:
        time.sleep(every)
        terminal = tap.terminal()
    if terminal["type"] != "CrawlCompleted":
        raise RuntimeError(f"our {what} ended {terminal['type']}: {terminal.get('error')}")
    return terminal


def shown_completed(
    client: httpx.Client, location: str, wait: float
) -> tuple[dict[str, Any], bool]:
    """The job as the API last showed it within ``wait`` seconds, and whether as completed."""
    deadline = time.perf_counter() + wait
    job: dict[str, Any] = {}
    while time.perf_counter() < deadline:
        job = client.get(location).json()
        if job["status"] == "completed":
            return job, True
        time.sleep(0.1)
    return job, False


def run_scrapy(start_url: str, site_pid: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scrapy.json"
        log = ROOT / ".local" / "logs" / "bench-scrapy.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        load_before = load()
        with log.open("w") as sink:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.crawl.scrapy_spider",
                    start_url,
                    str(concurrency),
                    str(MAX_DEPTH),
                    str(out),
                ],
                cwd=ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
            roots = {process.pid: _fixed("scrapy"), site_pid: _fixed("site (http.server)")}
            # Not Scrapy's: shown so that what else kept the machine busy is known.
            if FERRETDB_PID.exists():
                roots[int(FERRETDB_PID.read_text().split()[0])] = _fixed("ferretdb (idle here)")
            for pid in pids_named("beam.smp"):
                roots[pid] = _fixed("rabbitmq (idle here)")
            sampler = CpuSampler(roots)
            sampler.start()
            if process.wait() != 0:
                raise RuntimeError(f"scrapy exited with {process.returncode}; see {log}")
            groups = sampler.stop()
        result: dict[str, Any] = json.loads(out.read_text())
    pages = result["pages"]
    cpu, extraction = result.pop("cpu_seconds"), result.pop("extract_cpu_seconds")
    result["_hashes"] = result.pop("content_hashes")
    result["pages_per_s"] = round(pages / result["seconds"], 2)
    result["distinct_pages_per_s"] = round(result["distinct_content"] / result["seconds"], 2)
    result["load_before"] = load_before
    result["load_after"] = load()
    result["cpu"] = {
        "seconds": {"scrapy (spider open to close)": cpu, "scrapy extraction": extraction},
        "process_seconds_incl_startup": groups,
        "wall_seconds_incl_startup": round(sampler.wall, 2),
        "machine_busy_seconds_incl_startup": round(sampler.machine, 2),
        "others_seconds_incl_startup": round(sampler.machine - sum(groups.values()), 2),
        "others_top": sampler.others,
        "total_ms_per_page": round(1000 * cpu / max(pages, 1), 2),
        "extraction_ms_per_page": round(1000 * extraction / max(pages, 1), 2),
        "outside_extraction_ms_per_page": round(1000 * (cpu - extraction) / max(pages, 1), 2),
    }
    return result


def _median(values: Iterator[float] | list[float]) -> float:
    return round(statistics.median(values), 2)


def compare_content(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Texts (content hashes) both crawls found, and examples of those only one found."""
    mine, other = ours.pop("_hashes"), theirs.pop("_hashes")
    return {
        "common": len(mine.keys() & other.keys()),
        "only_ours": sorted(mine[h] for h in mine.keys() - other.keys())[:10],
        "only_scrapy": sorted(other[h] for h in other.keys() - mine.keys())[:10],
    }


def corpus_summary(
    facts: dict[str, Any], ours: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> dict[str, Any]:
    pairs = list(zip(ours, theirs, strict=True))
    ratios = [o["distinct_pages_per_s"] / t["distinct_pages_per_s"] for o, t in pairs]
    ratios_extracted = [o["extracted_pages_per_s"] / t["pages_per_s"] for o, t in pairs]
    ours_distinct = int(statistics.median(r["pages"] for r in ours))
    ours_extracted = int(statistics.median(r["pages_extracted"] for r in ours))
    scrapy_distinct = int(statistics.median(r["distinct_content"] for r in theirs))
    scrapy_parsed = int(statistics.median(r["pages"] for r in theirs))
    gap = abs(ours_distinct - scrapy_distinct) / max(scrapy_distinct, 1)
    gap_extracted = abs(ours_extracted - scrapy_parsed) / max(scrapy_parsed, 1)
    groups = sorted({g for r in ours for g in r["cpu"]["ms_per_page"]})
    totals = ("total_ms_per_page", "extraction_ms_per_page", "outside_extraction_ms_per_page")
    return {
        "site": facts,
        "ours": {
            "pages_fetched": ours_distinct,
            "pages_extracted": ours_extracted,
            "pages_extracted_inline": int(
                statistics.median(r["pages_extracted_inline"] for r in ours)
            ),
            "seconds": _median([r["seconds"] for r in ours]),
            "distinct_pages_per_s": _median([r["distinct_pages_per_s"] for r in ours]),
            "extracted_pages_per_s": _median([r["extracted_pages_per_s"] for r in ours]),
            "crawler_distinct_pages_per_s": _median(
                [r["pages"] / r["crawler_seconds"] for r in ours]
            ),
            "api_visible": all(r["api_visible"] for r in ours),
            "cpu_ms_per_page": {key: _median([r["cpu"][key] for r in ours]) for key in totals}
            | {
                "outside_extraction_by_process": {
                    g: _median([r["cpu"]["ms_per_page"].get(g, 0.0) for r in ours])
                    for g in groups
                    if g != "extraction pool"
                }
            },
        },
        "scrapy": {
            "pages_parsed": scrapy_parsed,
            "pages_distinct": scrapy_distinct,
            "redirected": int(statistics.median(r["redirected"] for r in theirs)),
            "seconds": _median([r["seconds"] for r in theirs]),
            "distinct_pages_per_s": _median([r["distinct_pages_per_s"] for r in theirs]),
            "parsed_pages_per_s": _median([r["pages_per_s"] for r in theirs]),
            "cpu_ms_per_page": {key: _median([r["cpu"][key] for r in theirs]) for key in totals},
        },
        # Headline: pages of distinct text per second on each side (ours' fetched, Scrapy's
        # distinct content hashes), i.e. the same site covered, in less or more time.
        "ratios": [round(r, 2) for r in ratios],
        "ratio": _median(ratios),
        "ratio_target": TARGET_RATIO,
        "ratio_met": statistics.median(ratios) >= TARGET_RATIO,
        "pages_gap": round(gap, 4),
        "pages_gap_met": gap <= TARGET_GAP,
        # Per page run through extraction (duplicates included on both sides).
        "ratios_extracted": [round(r, 2) for r in ratios_extracted],
        "ratio_extracted": _median(ratios_extracted),
        "pages_gap_extracted": round(gap_extracted, 4),
        **_recrawl_summary(ours),
        "runs": [{"scrapy": t, "ours": o} for o, t in pairs],
    }


def _recrawl_summary(ours: list[dict[str, Any]]) -> dict[str, Any]:
    """A re-crawl of the unchanged site against the first crawl: at most a fifth of its time."""
    again = [r["recrawl"] for r in ours if "recrawl" in r]
    if not again:
        return {}
    ratio = statistics.median(a["ratio_to_first"] for a in again)
    return {
        "recrawl": {
            "seconds": _median([a["seconds"] for a in again]),
            "first_seconds": _median([r["seconds"] for r in ours]),
            "ratio_to_first": round(ratio, 3),
            "ratios": [a["ratio_to_first"] for a in again],
            "unchanged": int(statistics.median(a["counters"]["unchanged"] for a in again)),
            "target": "re-crawl seconds <= first crawl seconds / 5",
            "met": ratio <= 0.2,
        }
    }


def print_corpus(name: str, summary: dict[str, Any]) -> None:
    print(f"\n== {name}: {summary['site']['directory']}")
    print(
        f"{'run':>3} {'load':>5} | {'scrapy s':>8} {'parsed':>6} {'distinct':>8} {'p/s':>6} | "
        f"{'ours s':>7} {'extr.':>6} {'fetched':>7} {'p/s':>6} {'crawler s':>9} | "
        f"{'ratio':>6} {'extr.':>6}"
    )
    for i, run in enumerate(summary["runs"], 1):
        t, o = run["scrapy"], run["ours"]
        print(
            f"{i:>3} {t['load_before'][0]:>5.2f} | {t['seconds']:>8.2f} {t['pages']:>6} "
            f"{t['distinct_content']:>8} {t['distinct_pages_per_s']:>6.2f} | "
            f"{o['seconds']:>7.2f} {o['pages_extracted']:>6} {o['pages']:>7} "
            f"{o['distinct_pages_per_s']:>6.2f} {o['crawler_seconds']:>9.2f} | "
            f"{o['distinct_pages_per_s'] / t['distinct_pages_per_s']:>5.2f}x "
            f"{o['extracted_pages_per_s'] / t['pages_per_s']:>5.2f}x"
        )
    ours, scrapy = summary["ours"], summary["scrapy"]
    print(
        f"median: distinct pages/s scrapy {scrapy['distinct_pages_per_s']}, ours "
        f"{ours['distinct_pages_per_s']} (crawler done at {ours['crawler_distinct_pages_per_s']})"
        f": ratio {summary['ratio']:.2f}x (target {TARGET_RATIO:g}x: "
        f"{'met' if summary['ratio_met'] else 'NOT met'}); per page extracted "
        f"{scrapy['parsed_pages_per_s']} vs {ours['extracted_pages_per_s']}: "
        f"{summary['ratio_extracted']:.2f}x"
    )
    print(
        f"pages: distinct texts scrapy {scrapy['pages_distinct']}, ours {ours['pages_fetched']} "
        f"(gap {summary['pages_gap']:.1%}, target {TARGET_GAP:.0%}: "
        f"{'met' if summary['pages_gap_met'] else 'NOT met'}); extracted scrapy "
        f"{scrapy['pages_parsed']} ({scrapy['redirected']} reached by a redirect), ours "
        f"{ours['pages_extracted']} (gap {summary['pages_gap_extracted']:.1%}); "
        f"{ours['pages_extracted_inline']} of ours extracted inline"
    )
    last = summary["runs"][-1]
    if "recrawl" in summary:
        again = summary["recrawl"]
        print(
            f"re-crawl since the first, site unchanged: {again['seconds']} s against "
            f"{again['first_seconds']} s ({again['ratio_to_first']:.3f} of it; target <= 0.2: "
            f"{'met' if again['met'] else 'NOT met'}), {again['unchanged']} pages unchanged"
        )
    print("outcomes (ours, last run):", last["ours"]["outcomes"])
    print("texts (last run):", last["ours"]["content"])
    print("\nCPU per page extracted, ms (medians over the runs)")
    groups = ours["cpu_ms_per_page"]["outside_extraction_by_process"]
    print(f"{'':<36}{'ours':>9}{'scrapy':>9}")
    for key, label in (
        ("total_ms_per_page", "total"),
        ("extraction_ms_per_page", "extraction"),
        ("outside_extraction_ms_per_page", "outside extraction"),
    ):
        print(
            f"{label:<36}{ours['cpu_ms_per_page'][key]:>9.2f}{scrapy['cpu_ms_per_page'][key]:>9.2f}"
        )
    for group, value in sorted(groups.items(), key=lambda kv: -kv[1]):
        shared = " (shared server)" if group in SHARED_GROUPS else ""
        print(f"  {group + shared:<34}{value:>9.2f}")
    for i, run in enumerate(summary["runs"], 1):
        cpu, theirs = run["ours"]["cpu"], run["scrapy"]["cpu"]
        print(
            f"run {i}: ours {cpu['wall_seconds']} s, machine busy {cpu['machine_busy_seconds']} "
            f"CPU s, other processes {cpu['others_seconds']}; scrapy "
            f"{theirs['wall_seconds_incl_startup']} s, machine busy "
            f"{theirs['machine_busy_seconds_incl_startup']}, other processes "
            f"{theirs['others_seconds_incl_startup']}; idle CPU/s of ours before: "
            f"{run['ours']['idle_cpu_per_s']}"
        )


def _brief(run: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in run.items() if not k.startswith("_")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; medians reported")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight, both")
    parser.add_argument(
        "--corpus",
        action="append",
        choices=sorted(CORPORA),
        help="crawl only this corpus (repeatable); default: all",
    )
    parser.add_argument(
        "--api-wait",
        type=float,
        default=600,
        help="seconds to wait, after the crawler finished, for the API to show it",
    )
    parser.add_argument(
        "--profile", type=Path, help="run ours only, under py-spy, stacks to this directory"
    )
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument(
        "--profile-gil", action="store_true", help="py-spy --gil: samples holding the GIL only"
    )
    args = parser.parse_args()
    chosen = [CORPORA[name] for name in (args.corpus or CORPORA)]
    for corpus in chosen:
        if not corpus.directory.is_dir():
            sys.exit(f"{corpus.directory} is missing: apt-get install -y {corpus.name}")
    began = datetime.now(UTC)
    load_start = load()
    summaries: dict[str, dict[str, Any]] = {}
    for corpus in chosen:
        facts = site_facts(corpus.directory)
        print(f"{corpus.name}: {facts}", flush=True)
        ours: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        with static_site(corpus.directory) as (base, site_pid):
            for i in range(args.repeat):
                if args.profile is None:
                    theirs.append(run_scrapy(base, site_pid, args.concurrency))
                    print(f"run {i + 1} scrapy: {_brief(theirs[-1])}", flush=True)
                tag = f"{corpus.name}-{i + 1}"
                ours.append(run_ours(corpus, base, site_pid, args, tag))
                if args.profile is None:
                    ours[-1]["content"] = compare_content(ours[-1], theirs[-1])
                print(f"run {i + 1} ours:   {_brief(ours[-1])}", flush=True)
        if args.profile is None:
            summaries[corpus.name] = corpus_summary(facts, ours, theirs)
            print_corpus(corpus.name, summaries[corpus.name])
    if args.profile is not None:
        return
    write_results(summaries, args, began, load_start)


def write_results(
    summaries: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    began: datetime,
    load_start: list[float],
) -> None:
    """Merge into the results file: corpora not run this time keep their last figures."""
    try:
        previous = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        previous = {}
    corpora = dict(previous.get("corpora", {}))
    for name, summary in summaries.items():
        corpora[name] = {
            "measured_at": began.strftime("%Y-%m-%d %H:%M UTC"),
            "repeats": args.repeat,
            "concurrency": args.concurrency,
            "load_at_start": load_start,
            **summary,
        }
    # The original keys (python3.11-doc), as before: ours' pages = its fetched counter and
    # pages/s over submit -> completed visible; Scrapy's = the pages its spider parsed.
    result: dict[str, Any] = {k: previous[k] for k in ("ours", "scrapy") if k in previous}
    if (python := summaries.get("python3.11-doc")) is not None:
        result["ours"] = {
            "pages": python["ours"]["pages_fetched"],
            "pages_per_s": python["ours"]["distinct_pages_per_s"],
            "crawler_pages_per_s": python["ours"]["crawler_distinct_pages_per_s"],
            "api_visible": python["ours"]["api_visible"],
        }
        result["scrapy"] = {
            "pages": python["scrapy"]["pages_parsed"],
            "pages_per_s": python["scrapy"]["parsed_pages_per_s"],
        }
    per_corpus = {
        name: {
            "measured_at": c["measured_at"],
            "repeats": c["repeats"],
            "ratio": c["ratio"],
            "ratio_met": c["ratio_met"],
            **(
                {"recrawl_ratio_to_first": c["recrawl"]["ratio_to_first"]} if "recrawl" in c else {}
            ),
            "ours_distinct_pages_per_s": c["ours"]["distinct_pages_per_s"],
            "scrapy_distinct_pages_per_s": c["scrapy"]["distinct_pages_per_s"],
            "ratio_per_page_extracted": c["ratio_extracted"],
            "ours_pages_fetched": c["ours"]["pages_fetched"],
            "scrapy_pages_distinct": c["scrapy"]["pages_distinct"],
            "pages_gap": c["pages_gap"],
            "pages_gap_met": c["pages_gap_met"],
            "ours_pages_extracted": c["ours"]["pages_extracted"],
            "scrapy_pages_parsed": c["scrapy"]["pages_parsed"],
            "ours_cpu_ms_per_page": c["ours"]["cpu_ms_per_page"]["total_ms_per_page"],
            "ours_cpu_ms_per_page_outside_extraction": c["ours"]["cpu_ms_per_page"][
                "outside_extraction_ms_per_page"
            ],
            "scrapy_cpu_ms_per_page": c["scrapy"]["cpu_ms_per_page"]["total_ms_per_page"],
            "scrapy_cpu_ms_per_page_outside_extraction": c["scrapy"]["cpu_ms_per_page"][
                "outside_extraction_ms_per_page"
            ],
        }
        for name, c in corpora.items()
    }
    result["summary"] = {
        "corpora": per_corpus,
        "all_targets_met": all(
            c["ratio_met"] and c["pages_gap_met"] and c.get("recrawl", {}).get("met", True)
            for c in corpora.values()
        ),
    }
    result["corpora"] = corpora
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}")
    for name, c in per_corpus.items():
        print(
            f"{name}: ratio {c['ratio']:.2f}x ({'met' if c['ratio_met'] else 'NOT met'}; "
            f"{c['ratio_per_page_extracted']:.2f}x per page extracted), distinct pages "
            f"{c['ours_pages_fetched']} vs {c['scrapy_pages_distinct']} ({c['pages_gap']:.1%}, "
            f"{'met' if c['pages_gap_met'] else 'NOT met'}), measured {c['measured_at']}"
        )


if __name__ == "__main__":
    main()
