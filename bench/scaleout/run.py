"""One crawl on one crawler process against the same crawl on two: does a crawl use every
crawler process?

The corpus is Debian's ``python3.11-doc`` (``/usr/share/doc/python3.11/html``, about 530
pages of 95 KB on average, about 95 ms of extraction each: extraction dominates), served by
nginx on loopback (``bench.scale.site.nginx``). Each run gets a private RabbitMQ vhost and
database and starts the API, the status service and the crawlers as processes
(``crawl_stack.running_stack``, no renderer):

1. ``one``: one crawler, started as ``taskset -c 0 python -m crawl_worker``;
2. ``two``: two crawlers, ``taskset -c 0`` and ``taskset -c 1``; one of them claims the job and
   both extract its pages through the ``crawler.extract`` queue.

Every crawler has ``CRAWL_WORKER_EXTRACT_PROCESSES=1`` (its extraction process inherits its
core), and both runs use the same request (``max_pages``, ``max_depth``), concurrency and
settings otherwise. The API, status service, RabbitMQ, FerretDB and nginx are not pinned: on
a 2-core machine they share the cores with the crawlers, in both runs alike (in the one-crawler
run they mostly find core 1 idle; in the two-crawler run they take time from the crawlers).

Pages/s is the job's ``fetched`` count over its own ``started_at`` -> ``finished_at``. The
ratio two/one is compared with the target (1.8x), and both runs' ledgers (URL -> outcome,
reason, content hash) must be equal. Per crawler, ``crawler_extractions_total`` by ``where``
says who extracted what. CPU (``bench.crawl.cpu``, from ``/proc``) over each crawl, per
process group: each crawler, its extraction process, the API, the status service, and the
shared servers (RabbitMQ, FerretDB, nginx); the machine's busy CPU beside it says what other
processes took meanwhile. Results go to ``bench/results/scaleout.json``.

``make bench-scaleout`` (``BENCH_ARGS="--repeat 3"`` for medians of several pairs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.crawl.cpu import CpuSampler, pids_named
from bench.crawl.run import private_services
from bench.scale import site
from crawl_contracts import routing
from crawl_stack import Services, Stack, running_stack, wait_finished
from crawl_stack.inspect import extractions as crawler_extractions
from crawl_stack.inspect import queue_info

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "scaleout.json"
LOGS = ROOT / ".local" / "logs" / "bench-scaleout"
DOCS = Path("/usr/share/doc/python3.11/html")
MAX_PAGES = 10_000
MAX_DEPTH = 50
TARGET_RATIO = 1.8


def extract_consumers(services: Services) -> int:
    info = queue_info(services, routing.EXTRACT_REQUESTS_QUEUE)
    return int(info.get("consumers", 0)) if info else 0


def extractions(stack: Stack, name: str) -> dict[str, float]:
    return crawler_extractions(stack.metrics_urls[name])


def ledger(client: httpx.Client, location: str) -> dict[str, list[Any]]:
    fields = "url,outcome,reason,content_hash"
    with client.stream(
        "GET", f"{location}/pages.jsonl", params={"fields": fields}, timeout=120
    ) as response:
        response.raise_for_status()
        pages = [json.loads(line) for line in response.iter_lines() if line.strip()]
    return {p["url"]: [p["outcome"], p.get("reason"), p.get("content_hash")] for p in pages}


def sampler(stack: Stack, workers: int) -> CpuSampler:
    """CPU per process group of the run: each crawler and its extraction process, the API,
    the status service, and the shared servers (RabbitMQ, FerretDB, nginx)."""

    def crawler(i: int) -> Any:
        root = stack.processes[f"crawler-{i}"].pid
        return lambda pid, cmd: f"crawler-{i}" if pid == root else f"crawler-{i} extraction"

    def fixed(group: str) -> Any:
        return lambda pid, cmd: group

    roots = {stack.processes[f"crawler-{i}"].pid: crawler(i) for i in range(workers)}
    roots[stack.processes["api"].pid] = fixed("api")
    roots[stack.processes["status"].pid] = fixed("status")
    for name, group in (("beam.smp", "rabbitmq"), ("ferretdb", "ferretdb"), ("nginx", "nginx")):
        for pid in pids_named(name):
            roots[pid] = fixed(group)
    return CpuSampler(roots)


def run(base: str, cores: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """One crawl of the corpus with one crawler per core in ``cores``."""
    env = {
        "CRAWL_WORKER_CONCURRENCY": str(args.concurrency),
        "CRAWL_WORKER_PER_HOST_CONCURRENCY": str(args.concurrency),
        "CRAWL_WORKER_EXTRACT_PROCESSES": "1",
        "CRAWL_WORKER_LOG_LEVEL": "WARNING",
        "CRAWL_STATUS_LOG_LEVEL": "WARNING",
        "CRAWL_API_LOG_LEVEL": "WARNING",
    }
    workers = len(cores)
    with (
        private_services() as services,
        running_stack(
            services,
            workers=workers,
            renderers=0,
            extra_env=env,
            logs=LOGS / f"{workers}-crawlers",
            worker_argv_prefix=lambda i: ["taskset", "-c", str(cores[i])],
        ) as stack,
    ):
        deadline = time.monotonic() + 60
        while extract_consumers(services) != workers:  # every crawler serves the queue
            if time.monotonic() > deadline:
                raise RuntimeError(f"crawler.extract did not get {workers} consumers")
            time.sleep(0.2)
        time.sleep(2)  # the stack at rest before the crawl
        load_before = [round(x, 2) for x in os.getloadavg()]
        cpu = sampler(stack, workers)
        with httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=30) as client:
            request = {"url": base, "max_pages": args.max_pages, "max_depth": MAX_DEPTH}
            cpu.start()
            location = client.post("/api/v1/crawls", json=request).headers["Location"]
            job = wait_finished(client, location, timeout=args.timeout)
            groups = cpu.stop()
            pages = ledger(client, location)
        by_crawler = {
            f"crawler-{i} (core {cores[i]})": extractions(stack, f"crawler-{i}")
            for i in range(workers)
        }
    started = datetime.fromisoformat(job["started_at"])
    finished = datetime.fromisoformat(job["finished_at"])
    seconds = (finished - started).total_seconds()
    fetched = int(job["counters"]["fetched"])
    # The owner is the crawler that extracted its own pages (here or through the queue).
    owner = max(by_crawler, key=lambda name: by_crawler[name]["local"] + by_crawler[name]["remote"])
    return {
        "crawlers": workers,
        "cores": cores,
        "status": job["status"],
        "stop_reason": job.get("stop_reason"),
        "owner": owner,
        "pages_fetched": fetched,
        "pages_recorded": len(pages),
        "seconds": round(seconds, 2),
        "pages_per_s": round(fetched / seconds, 2),
        "extractions_by_crawler": by_crawler,
        "load_before": load_before,
        "cpu_seconds": groups,
        "cpu_ms_per_page": {g: round(1000 * v / max(fetched, 1), 1) for g, v in groups.items()},
        "cpu_ms_per_page_total": round(1000 * sum(groups.values()) / max(fetched, 1), 1),
        "machine_busy_cpu_seconds": round(cpu.machine, 2),
        "wall_seconds": round(cpu.wall, 2),
        "others_cpu_seconds": round(cpu.machine - sum(groups.values()), 2),
        "others_top": cpu.others,
        "_ledger": pages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs; medians reported")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight per job")
    parser.add_argument("--max-pages", type=int, default=MAX_PAGES)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per crawl at most")
    args = parser.parse_args()
    if not DOCS.is_dir():
        raise SystemExit(f"{DOCS} is missing: apt-get install -y python3.11-doc")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("this benchmark pins two crawlers to cores 0 and 1: it needs 2 cores")
    began = datetime.now(UTC)
    pairs: list[dict[str, Any]] = []
    with site.nginx(DOCS) as base:
        for i in range(args.repeat):
            one = run(base, [0], args)
            print(f"pair {i + 1}, one crawler:  {_brief(one)}", flush=True)
            two = run(base, [0, 1], args)
            print(f"pair {i + 1}, two crawlers: {_brief(two)}", flush=True)
            same = one.pop("_ledger") == two.pop("_ledger")
            pairs.append(
                {
                    "one": one,
                    "two": two,
                    "ratio": round(two["pages_per_s"] / one["pages_per_s"], 3),
                    "pages_equal": one["pages_fetched"] == two["pages_fetched"],
                    "ledgers_equal": same,
                }
            )
    ratio = statistics.median(p["ratio"] for p in pairs)
    result = {
        "measured_at": began.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make bench-scaleout"
        + (f' BENCH_ARGS="--repeat {args.repeat}"' if args.repeat != 1 else ""),
        "corpus": str(DOCS),
        "machine_cpus": os.cpu_count(),
        "request": {"max_pages": args.max_pages, "max_depth": MAX_DEPTH},
        "concurrency": args.concurrency,
        "extract_processes_per_crawler": 1,
        "one_crawler_pages_per_s": statistics.median(p["one"]["pages_per_s"] for p in pairs),
        "two_crawlers_pages_per_s": statistics.median(p["two"]["pages_per_s"] for p in pairs),
        "ratio": round(ratio, 3),
        "ratio_target": TARGET_RATIO,
        "ratio_met": ratio >= TARGET_RATIO,
        "pages_equal": all(p["pages_equal"] for p in pairs),
        "ledgers_equal": all(p["ledgers_equal"] for p in pairs),
        "pairs": pairs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\none crawler {result['one_crawler_pages_per_s']} pages/s, two crawlers "
        f"{result['two_crawlers_pages_per_s']} pages/s: {ratio:.2f}x (target "
        f"{TARGET_RATIO:g}x: {'met' if result['ratio_met'] else 'NOT met'}); pages equal: "
        f"{result['pages_equal']}, ledgers equal: {result['ledgers_equal']}"
    )
    print(f"written: {RESULTS.relative_to(ROOT)}")


def _brief(run: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in run.items() if not k.startswith("_")})


if __name__ == "__main__":
    main()
