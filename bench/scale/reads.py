"""Part A: reads against a big history, beside the same reads against an empty database.

Two stacks run side by side, each on its own vhost: one on the preloaded database (see
``bench.scale.preload``), one on an empty one. Each crawls the same small site through the
API and runs the assistant's seed route a few times; then every figure is measured on both,
alternating between them (blocks of requests for latencies, whole rounds for throughput), so
a drift of the machine's speed touches both alike:

- latencies (one client, kept-alive connection; p50 and p95): the crawl's pages
  (``limit=50``), its logs, its whole event stream, the tenant's job list (plain, by status,
  at a deep cursor) and the assistant's run history;
- idle CPU of the status service and the crawler (main process and extraction pool) over
  ``idle_seconds`` with no traffic, both stacks at once;
- GET status throughput and POST throughput (``clients`` concurrent clients, ``seconds``
  per round, medians of the rounds). POSTs are measured with the crawlers stopped: the
  commands queue in RabbitMQ, the status service projects them, nothing is crawled.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.scale import load, procs
from bench.scale.preload import BENCH_ASSISTANT, BENCH_TENANT
from bench.scale.stacks import HEADERS, settle, stack_env
from crawl_api.settings import ApiSettings
from crawl_stack import Services, Stack, running_stack, wait_finished

__all__ = ["ReadOptions", "measure_reads"]

SIDES = ("big", "empty")
LATENCY_TARGET_MS = 20.0
SSE_MARGIN_MS = 200.0
THROUGHPUT_FLOOR = 0.85
IDLE_TARGET = 2.0  # percent of one core


@dataclass(frozen=True, slots=True)
class ReadOptions:
    repeats: int = 200  # timed requests per latency figure and side
    block: int = 25  # requests per side before switching to the other
    sse_repeats: int = 12
    deep_pages: int = 50  # job list pages followed for the deep cursor
    seed_runs: int = 3
    idle_seconds: float = 60.0
    rounds: int = 6  # throughput rounds per side
    seconds: float = 5.0  # per throughput round
    clients: int = 50


def _prepare(stack: Stack, site: str, seed_runs: int) -> dict[str, Any]:
    """Crawl the site, run the assistant's seed route; the crawl's id and what it recorded."""
    with httpx.Client(base_url=stack.api_url, headers=HEADERS, timeout=60) as client:
        created = client.post(
            "/api/v1/crawls", json={"url": site, "max_pages": 100, "max_depth": 5}
        )
        created.raise_for_status()
        job = wait_finished(client, created.headers["Location"], timeout=300)
        if job["status"] != "completed":
            raise RuntimeError(f"the site's crawl ended {job['status']}: {job.get('error')}")
        for _ in range(seed_runs):
            client.post(
                f"/api/assistants/{BENCH_ASSISTANT}/webcrawl/start", json={}
            ).raise_for_status()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            runs = client.get(f"/api/assistants/{BENCH_ASSISTANT}/webcrawl/history").json()
            mine = runs[:seed_runs]
            if all(run["status"] in ("Completed", "Error", "Cancelled") for run in mine):
                break
            time.sleep(0.3)
        else:
            raise RuntimeError("the seed runs did not finish")
        return {"job_id": job["id"], "counters": job["counters"]}


def _deep_cursor(client: httpx.Client, pages: int) -> tuple[str | None, int]:
    """The cursor ``pages`` pages into the tenant's job list (or as deep as it goes)."""
    cursor: str | None = None
    depth = 0
    for _ in range(pages):
        params = {"limit": "20", **({"cursor": cursor} if cursor else {})}
        following = client.get("/api/v1/crawls", params=params).json().get("next_cursor")
        if following is None:
            break
        cursor, depth = following, depth + 1
    return cursor, depth


def _stats(durations: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(load.percentile(durations, 0.5) * 1000, 2),
        "p95_ms": round(load.percentile(durations, 0.95) * 1000, 2),
        "n": len(durations),
    }


def _items(client: httpx.Client, path: str) -> int:
    """How many items one answer of ``path`` holds (a list, or an object's ``items``)."""
    body = client.get(path).json()
    return len(body if isinstance(body, list) else body.get("items", []))


def _latency(
    clients: dict[str, httpx.Client], paths: dict[str, str], options: ReadOptions
) -> dict[str, Any]:
    """Alternating blocks of GETs of each side's path; p50/p95 per side, and how many items
    an answer held on each side."""
    found: dict[str, list[float]] = {side: [] for side in SIDES}
    for side in SIDES:
        load.timed_gets(clients[side], paths[side], 10)  # warm up
    while any(len(found[side]) < options.repeats for side in SIDES):
        for side in SIDES:
            count = min(options.block, options.repeats - len(found[side]))
            found[side] += load.timed_gets(clients[side], paths[side], count)
    return {
        **{side: _stats(found[side]) for side in SIDES},
        "items": {side: _items(clients[side], paths[side]) for side in SIDES},
    }


def _idle_cpu(stacks: dict[str, Stack], seconds: float) -> dict[str, dict[str, float]]:
    """Percent of one core each process used over ``seconds`` of no traffic."""
    watched: dict[str, dict[str, list[int]]] = {}
    for side, stack in stacks.items():
        crawler = stack.processes["crawler-0"].pid
        api = stack.processes["api"].pid
        watched[side] = {
            "status": [stack.processes["status"].pid],
            "crawler": [crawler],
            "crawler_pool": procs.descendants(crawler),
            "api": [api, *procs.descendants(api)],
        }

    def cpu() -> dict[str, dict[str, float]]:
        return {
            side: {name: sum(procs.cpu_seconds(p) for p in pids) for name, pids in parts.items()}
            for side, parts in watched.items()
        }

    before, started = cpu(), time.monotonic()
    time.sleep(seconds)
    after, elapsed = cpu(), time.monotonic() - started
    return {
        side: {
            name: round(100 * (after[side][name] - before[side][name]) / elapsed, 3)
            for name in watched[side]
        }
        for side in stacks
    }


def _throughput_rounds(
    urls: dict[str, str],
    options: ReadOptions,
    *,
    method: str = "GET",
    body: Any = None,
    between: dict[str, Services] | None = None,
    stacks: dict[str, Stack] | None = None,
) -> dict[str, Any]:
    """Alternating rounds big/empty; medians of requests/s per side. With ``stacks``, each
    round also notes the CPU per request of the side's API processes, and the machine's
    busy share (the load generator included)."""
    rounds: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    for _ in range(options.rounds):
        for side in SIDES:
            api: list[int] = []
            if stacks is not None:
                main = stacks[side].processes["api"].pid
                api = [main, *procs.descendants(main)]
            api_before = sum(procs.cpu_seconds(p) for p in api)
            busy_before, all_before = procs.machine_cpu()
            measured = load.throughput(
                urls[side],
                method=method,
                headers=HEADERS,
                body=body,
                clients=options.clients,
                seconds=options.seconds,
            )
            busy, total = procs.machine_cpu()
            if api:
                used = sum(procs.cpu_seconds(p) for p in api) - api_before
                measured["api_cpu_ms_per_request"] = 1000 * used / max(measured["requests"], 1)
                measured["machine_busy"] = (busy - busy_before) / max(total - all_before, 1e-9)
            rounds[side].append(measured)
            if between is not None:  # not while the status service still projects them
                settle(between[side])
            extra = ""
            if "api_cpu_ms_per_request" in measured:
                extra = (
                    f" (API {measured['api_cpu_ms_per_request']:.2f} ms CPU/request, machine "
                    f"{measured['machine_busy']:.0%} busy)"
                )
            print(f"    {method} {side}: {measured['rps']:.0f} requests/s{extra}", flush=True)
    medians = {side: statistics.median(r["rps"] for r in rounds[side]) for side in SIDES}
    ratio = medians["big"] / medians["empty"]
    return {
        "unit": "requests/s",
        "big": round(medians["big"], 1),
        "empty": round(medians["empty"], 1),
        "ratio": round(ratio, 3),
        "rounds": [
            [round(b["rps"], 1), round(e["rps"], 1)]
            for b, e in zip(rounds["big"], rounds["empty"], strict=True)
        ],
        "errors": sum(int(r["errors"]) for side in SIDES for r in rounds[side]),
        "p99_ms": {
            side: round(statistics.median(r["p99_ms"] for r in rounds[side]), 1) for side in SIDES
        },
        **(
            {
                "api_cpu_ms_per_request": {
                    side: round(
                        statistics.median(r["api_cpu_ms_per_request"] for r in rounds[side]), 3
                    )
                    for side in SIDES
                },
                "machine_busy": {
                    side: round(statistics.median(r["machine_busy"] for r in rounds[side]), 3)
                    for side in SIDES
                },
            }
            if stacks is not None
            else {}
        ),
        "clients": options.clients,
        "seconds_per_round": options.seconds,
        "target": f"big >= {THROUGHPUT_FLOOR:.0%} of empty (same run, medians of alternating "
        "rounds)",
        "met": ratio >= THROUGHPUT_FLOOR,
    }


def measure_reads(
    big: Services, empty: Services, site: str, options: ReadOptions
) -> dict[str, Any]:
    """Every figure of part A (see the module doc)."""
    settle_ms = ApiSettings().sse_settle_seconds * 1000
    assistants = {
        BENCH_ASSISTANT: {"tenant": BENCH_TENANT, "urls": [site], "max_pages": 20, "max_depth": 2}
    }
    env = stack_env(
        BENCH_TENANT,
        CRAWL_API_ASSISTANTS=json.dumps(assistants),
        # The other tenants' running jobs are alive (reset() refreshed them), but no crawler
        # of this stack speaks for them: they must not be declared stalled during the run.
        CRAWL_STATUS_STALL_AFTER="3600",
    )
    figures: dict[str, Any] = {}
    with (
        running_stack(big, extra_env=env) as big_stack,
        running_stack(empty, extra_env=env) as empty_stack,
    ):
        stacks = {"big": big_stack, "empty": empty_stack}
        prepared = {}
        for side, stack in stacks.items():
            started = time.monotonic()
            prepared[side] = _prepare(stack, site, options.seed_runs)
            print(
                f"  {side}: site crawled and {options.seed_runs} seed runs done in "
                f"{time.monotonic() - started:.1f} s ({prepared[side]['counters']})",
                flush=True,
            )
        for services in (big, empty):
            settle(services)
        clients = {
            side: httpx.Client(base_url=stack.api_url, headers=HEADERS, timeout=60)
            for side, stack in stacks.items()
        }
        try:
            job = {side: prepared[side]["job_id"] for side in SIDES}
            deep = {side: _deep_cursor(clients[side], options.deep_pages) for side in SIDES}
            paths = {
                "pages_limit_50": {s: f"/api/v1/crawls/{job[s]}/pages?limit=50" for s in SIDES},
                "logs": {s: f"/api/v1/crawls/{job[s]}/logs" for s in SIDES},
                "job_list_limit_20": dict.fromkeys(SIDES, "/api/v1/crawls?limit=20"),
                "job_list_completed": dict.fromkeys(
                    SIDES, "/api/v1/crawls?limit=20&status=completed"
                ),
                "job_list_deep_cursor": {
                    s: "/api/v1/crawls?limit=20" + (f"&cursor={deep[s][0]}" if deep[s][0] else "")
                    for s in SIDES
                },
                "seed_history": dict.fromkeys(
                    SIDES, f"/api/assistants/{BENCH_ASSISTANT}/webcrawl/history"
                ),
            }
            for name, by_side in paths.items():
                measured = _latency(clients, by_side, options)
                figures[name] = {
                    "unit": "ms",
                    **measured,
                    "target": f"big p50 <= {LATENCY_TARGET_MS:.0f} ms",
                    "met": measured["big"]["p50_ms"] <= LATENCY_TARGET_MS,
                }
                if name == "job_list_deep_cursor":
                    figures[name]["pages_deep"] = {s: deep[s][1] for s in SIDES}
                print(
                    f"  {name}: big p50 {measured['big']['p50_ms']} ms, "
                    f"empty p50 {measured['empty']['p50_ms']} ms",
                    flush=True,
                )
            sse: dict[str, list[float]] = {side: [] for side in SIDES}
            events: dict[str, int] = {}
            for _ in range(options.sse_repeats):
                for side in SIDES:
                    seconds, events[side] = load.sse_seconds(
                        clients[side], f"/api/v1/crawls/{job[side]}/events"
                    )
                    sse[side].append(seconds)
            limit = settle_ms + SSE_MARGIN_MS
            figures["sse_full_stream"] = {
                "unit": "ms",
                **{side: _stats(sse[side]) for side in SIDES},
                "events": events,
                "settle_window_ms": settle_ms,
                "target": f"big p50 <= settle window + {SSE_MARGIN_MS:.0f} ms ({limit:.0f} ms)",
                "met": load.percentile(sse["big"], 0.5) * 1000 <= limit,
            }
            print(f"  sse_full_stream: {figures['sse_full_stream']['big']}", flush=True)

            for services in (big, empty):
                settle(services)
            time.sleep(5)
            print(f"  idle CPU over {options.idle_seconds:.0f} s ...", flush=True)
            idle = _idle_cpu(stacks, options.idle_seconds)
            figures["idle_cpu"] = {
                "unit": "% of one core",
                "seconds": options.idle_seconds,
                **idle,
                "target": f"big: status and crawler (main + pool) <= {IDLE_TARGET:.0f} % each",
                "met": idle["big"]["status"] <= IDLE_TARGET
                and idle["big"]["crawler"] + idle["big"]["crawler_pool"] <= IDLE_TARGET,
            }
            print(f"  idle_cpu: {idle}", flush=True)

            print("  GET status throughput ...", flush=True)
            figures["get_status_throughput"] = _throughput_rounds(
                {s: f"{stacks[s].api_url}/api/v1/crawls/{job[s]}" for s in SIDES},
                options,
                stacks=stacks,
            )
            # POSTs with the crawlers stopped: the jobs queue, nothing is crawled.
            for stack in stacks.values():
                stack.kill("crawler-0")
            print("  POST throughput (crawlers stopped) ...", flush=True)
            figures["post_throughput"] = _throughput_rounds(
                {s: f"{stacks[s].api_url}/api/v1/crawls" for s in SIDES},
                options,
                method="POST",
                body={"url": site, "max_pages": 1, "max_depth": 0},
                between={"big": big, "empty": empty},
                stacks=stacks,
            )
            figures["post_throughput"]["crawler"] = "stopped: the jobs queue in RabbitMQ"
        finally:
            for client in clients.values():
                client.close()
    figures["crawled_site"] = {side: prepared[side]["counters"] for side in SIDES}
    return figures
