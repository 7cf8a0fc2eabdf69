"""A many-process soak on one machine, with faults: ``make soak``.

Runs the services as processes on a private vhost and database of the local RabbitMQ and
FerretDB: **3 crawlers, 2 status replicas, 2 API processes** (no renderer: the jobs ask for
no rendering). The APIs and the crawlers reach RabbitMQ through a TCP proxy this script owns.
Then:

1. **200 jobs** (``--jobs``) of 1 to 2,000 pages over three local sites: the sample site on
   two ports (38 URLs each, a PDF among them) and a generated 2,000-page site served by nginx
   (``bench.scale.site``). Job 0 is the large one: the whole 2,000-page site. The others are
   drawn with a fixed seed: 70 % are small crawls of the sample sites, the others take 100 to
   1,000 pages of the large site. They are submitted over the first 90 seconds, alternating between
   the two APIs, each with an ``Idempotency-Key`` so a retry after a lost answer (a killed
   API, a cut) is the same job.
2. **Faults**, while jobs run: every 20 s (``--kill-every``) a random service process gets
   ``kill -9`` (its whole process group) and is started again; after the first kill RabbitMQ
   is restarted (``deploy/services.sh restart rabbitmq``), after the third the database, after
   the fifth the proxy cuts the APIs' and crawlers' connections to RabbitMQ for 10 s. A
   process that exits by itself (an API started while RabbitMQ is down does) is started
   again, as an orchestrator would, and counted. Two deliberate poison messages (one
   on ``crawler.requests``, one on a status partition) are published at the start.
3. Every second the jobs' counters are read from the database (``crawls``); a counter lower
   than its previous reading is a decrease. A durable queue of this script's own, bound to
   ``crawl.#``, keeps every event for the end.
4. It stops by itself: when every job is terminal, or after ``--max-minutes``.

Checked at the end, and written to ``bench/results/soak.json``: every job terminal (``stuck``
counts the others), none missing (``lost``: accepted but no document), each completed job's
ledger (``pages.jsonl``) holds every URL once (``duplicates`` counts extra records) and as
many records as its counters say; counters never decreased; exactly one terminal event per
job; the dead-letter queues hold the two poison messages and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import httpx
from pymongo import AsyncMongoClient

from bench.scale import site as scale_site
from crawl_contracts import routing
from crawl_stack import Services, private_services, stack_env
from crawl_stack.inspect import extractions
from crawl_stack.processes import TOKEN, Stack, free_port
from tests.reliability.support import TcpProxy
from tests.sites.serve import SAMPLE_URLS, serving

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "soak.json"
LOGS = ROOT / ".local" / "logs" / "soak"
LARGE = 2000
TERMINAL = {"completed", "failed", "cancelled"}
TERMINAL_EVENTS = {"CrawlCompleted", "CrawlFailed", "CrawlCancelled"}
COUNTERS = ("discovered", "fetched", "failed", "skipped")
ENV = {
    "CRAWL_WORKER_MAX_JOBS": "6",
    "CRAWL_WORKER_CONCURRENCY": "4",
    "CRAWL_WORKER_HEARTBEAT_INTERVAL": "1",
    "CRAWL_WORKER_LEASE_SECONDS": "6",
    "CRAWL_WORKER_CHECKPOINT_INTERVAL": "0.5",
    "CRAWL_STATUS_STALL_AFTER": "15",
    "CRAWL_STATUS_STALL_SCAN_INTERVAL": "1",
    "CRAWL_STATUS_MAX_ATTEMPTS": "20",  # a job may lose its crawler to several kills
    "CRAWL_API_RATE_LIMIT_PER_SECOND": "1000",
    "CRAWL_API_RATE_LIMIT_BURST": "1000",
    "CRAWL_API_MAX_RUNNING_JOBS_PER_TENANT": "1000",
    "CRAWL_WORKER_LOG_LEVEL": "WARNING",
    "CRAWL_STATUS_LOG_LEVEL": "WARNING",
    "CRAWL_API_LOG_LEVEL": "WARNING",
}


@dataclass
class Soak:
    services: Services
    proxy_url: str  # RabbitMQ through the proxy, on the private vhost
    stack: Stack
    api_urls: list[str]
    modules: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> request
    faults: list[dict[str, Any]] = field(default_factory=list)
    decreases: list[dict[str, Any]] = field(default_factory=list)
    samples: int = 0
    sample_errors: int = 0
    submit_retries: int = 0
    exits: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def at(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def start(self, name: str) -> None:
        module, extra = self.modules[name]
        self.stack.start(name, module, **extra)

    def kill(self, name: str) -> None:
        process = self.stack.processes.pop(name)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _vhost_url(amqp: str, vhost_url: str, port: int) -> str:
    """``vhost_url`` with its port replaced (the proxy's)."""
    parts = urlsplit(vhost_url)
    netloc = f"{parts.username or 'guest'}:{parts.password or 'guest'}@127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def plan_jobs(
    count: int, sample_sites: list[str], large_site: str, seed: int
) -> list[dict[str, Any]]:
    """Job 0 crawls the whole large site; the rest are drawn with ``seed``."""
    rng = random.Random(seed)
    jobs = [{"url": large_site, "max_pages": LARGE, "max_depth": scale_site.depth(LARGE)}]
    for _ in range(count - 1):
        if rng.random() < 0.7:
            jobs.append({"url": rng.choice(sample_sites), "max_pages": rng.randint(1, SAMPLE_URLS)})
        else:
            pages = rng.randint(100, 1000)
            jobs.append(
                {"url": large_site, "max_pages": pages, "max_depth": scale_site.depth(LARGE)}
            )
    return jobs


async def submit(soak: Soak, requests: list[dict[str, Any]], within: float) -> None:
    """Each request to the APIs in turn, spread over ``within`` seconds, retried (with the
    same Idempotency-Key) until one API accepts it."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        for i, request in enumerate(requests):
            key = uuid.uuid4().hex
            deadline = time.monotonic() + 120
            attempt = 0
            while True:
                base = soak.api_urls[(i + attempt) % len(soak.api_urls)]
                try:
                    answer = await client.post(
                        f"{base}/api/v1/crawls", json=request, headers={"Idempotency-Key": key}
                    )
                    if answer.status_code in (200, 201, 202):
                        soak.jobs[answer.json()["id"]] = request
                        break
                except httpx.HTTPError:
                    pass
                attempt += 1
                soak.submit_retries += 1
                if time.monotonic() > deadline:
                    raise RuntimeError(f"job {i} was never accepted: {request}")
                await asyncio.sleep(0.5)
            await asyncio.sleep(within / len(requests))


async def sample(soak: Soak, mongo: AsyncMongoClient[dict[str, Any]], stop: asyncio.Event) -> None:
    """Every second, each job's counters: a lower reading than the last is a decrease."""
    crawls = mongo[soak.services.database].crawls
    last: dict[str, dict[str, int]] = {}
    while not stop.is_set():
        try:
            async for doc in crawls.find({}, {"counters": 1}):
                counters = doc.get("counters") or {}
                before = last.get(doc["_id"], {})
                for key in COUNTERS:
                    if counters.get(key, 0) < before.get(key, 0):
                        soak.decreases.append(
                            {
                                "job": doc["_id"],
                                "counter": key,
                                "was": before[key],
                                "now": counters.get(key, 0),
                                "at": soak.at(),
                            }
                        )
                last[doc["_id"]] = {k: counters.get(k, 0) for k in COUNTERS}
            soak.samples += 1
        except Exception:  # the database restarting: the gap is counted, not hidden
            soak.sample_errors += 1
        await asyncio.sleep(1.0)


async def unfinished(soak: Soak, mongo: AsyncMongoClient[dict[str, Any]]) -> int:
    crawls = mongo[soak.services.database].crawls
    done = 0
    try:
        async for doc in crawls.find({"status": {"$in": sorted(TERMINAL)}}, {"_id": 1}):
            done += doc["_id"] in soak.jobs
    except Exception:
        return len(soak.jobs)
    return len(soak.jobs) - done


async def inject(soak: Soak, proxy: TcpProxy, kill_every: float, stop: asyncio.Event) -> None:
    """Kills every ``kill_every`` seconds; one RabbitMQ restart, one database restart, one
    10 s cut of the proxied connections, spread over the first kills."""
    rng = random.Random(7)
    specials = ["rabbitmq", "database", "cut"]
    names = sorted(soak.modules)
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), kill_every)
        if stop.is_set():
            return
        victim = rng.choice(names)
        soak.kill(victim)
        soak.faults.append({"at": soak.at(), "fault": "kill -9", "process": victim})
        await asyncio.sleep(1.0)
        soak.start(victim)
        kills = sum(1 for f in soak.faults if f["fault"] == "kill -9")
        if specials and kills in (1, 3, 5):  # after the 1st, 3rd and 5th kill
            special = specials.pop(0)
            began = soak.at()
            fault: dict[str, Any] = {"at": began}
            if special == "cut":
                fault["fault"] = "10 s cut of the APIs' and crawlers' RabbitMQ connections"
                await proxy.cut()
                await asyncio.sleep(10)
                await proxy.restore()
            else:
                which = "rabbitmq" if special == "rabbitmq" else "ferretdb"
                fault["fault"] = f"{which} restart"
                done = await asyncio.to_thread(
                    subprocess.run,
                    ["bash", str(ROOT / "deploy" / "services.sh"), "restart", which],
                    capture_output=True,
                    text=True,
                )
                fault["exit_code"] = done.returncode
                if done.returncode:
                    fault["output"] = (done.stdout + done.stderr)[-2000:]
            fault["seconds"] = round(soak.at() - began, 1)
            soak.faults.append(fault)
            print(f"[{soak.at():7.1f} s] {fault}", flush=True)


async def supervise(soak: Soak, stop: asyncio.Event) -> None:
    """Start again any process that exited by itself (as Kubernetes or compose would): an API
    started while RabbitMQ restarts exits, as it should, and is counted."""
    while not stop.is_set():
        for name, process in list(soak.stack.processes.items()):
            if process.poll() is not None:
                soak.stack.processes.pop(name)
                soak.exits.append({"at": soak.at(), "process": name, "code": process.returncode})
                soak.start(name)
        await asyncio.sleep(1.0)


async def progress(
    soak: Soak, mongo: AsyncMongoClient[dict[str, Any]], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 15)
        left = await unfinished(soak, mongo)
        print(
            f"[{soak.at():7.1f} s] jobs accepted {len(soak.jobs)}, unfinished {left}, "
            f"faults {len(soak.faults)}, exits {len(soak.exits)}, "
            f"counter decreases {len(soak.decreases)}",
            flush=True,
        )


async def poison(soak: Soak) -> list[bytes]:
    """Two deliberate poison messages: garbage on crawler.requests and on a status partition."""
    bodies = [f"soak poison {i} {uuid.uuid4().hex}".encode() for i in range(2)]
    connection = await aio_pika.connect_robust(soak.services.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(bodies[0]), routing_key=routing.CRAWLER_REQUESTS_QUEUE
        )
        await channel.default_exchange.publish(
            aio_pika.Message(bodies[1]), routing_key=routing.status_partition_queue(0)
        )
    return bodies


async def drain(
    url: str, queue_name: str, passive: bool = True
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect_robust(url)
    found = []
    async with connection:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(queue_name, passive=passive)
        except aio_pika.exceptions.ChannelClosed:
            return []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            found.append(message)
    return found


def extractions_served(soak: Soak) -> dict[str, float | None]:
    """Each crawler's ``crawler_extractions_total{where="served"}``, read from its metrics."""
    found: dict[str, float | None] = {}
    for name, (module, extra) in sorted(soak.modules.items()):
        if module == "crawl_worker":
            found[name] = None
            with suppress(httpx.HTTPError):
                port = extra["CRAWL_WORKER_METRICS_PORT"]
                found[name] = extractions(f"http://127.0.0.1:{port}").get("served")
    return found


async def ledgers(soak: Soak) -> dict[str, Any]:
    """Each completed job's records: duplicates of a URL, and records against counters."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    duplicates = 0
    mismatched: list[dict[str, Any]] = []
    records = 0
    completed = 0
    async with httpx.AsyncClient(base_url=soak.api_urls[0], headers=headers, timeout=60) as client:
        for job_id in soak.jobs:
            job = (await client.get(f"/api/v1/crawls/{job_id}")).json()
            if job["status"] != "completed":
                continue
            completed += 1
            answer = await client.get(
                f"/api/v1/crawls/{job_id}/pages.jsonl", params={"fields": "url,outcome"}
            )
            urls = [json.loads(line)["url"] for line in answer.text.splitlines() if line.strip()]
            records += len(urls)
            duplicates += len(urls) - len(set(urls))
            counters = job["counters"]
            expected = sum(counters.get(k, 0) for k in ("fetched", "failed", "skipped"))
            if len(urls) != expected or counters.get("discovered") != expected:
                mismatched.append({"job": job_id, "records": len(urls), "counters": counters})
    return {
        "completed": completed,
        "records": records,
        "duplicates": duplicates,
        "ledger_mismatches": mismatched,
    }


async def run(
    args: argparse.Namespace, soak: Soak, proxy: TcpProxy, sites: dict[str, Any]
) -> dict[str, Any]:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(soak.services.mongodb_url)
    # A durable queue of our own: every event, kept across the broker's restart.
    probe = f"soak.probe.{uuid.uuid4().hex[:6]}"
    connection = await aio_pika.connect_robust(soak.services.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            routing.EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            probe, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing.ALL_PATTERN)
    poisoned = await poison(soak)
    requests = plan_jobs(args.jobs, sites["sample"], sites["large"], args.seed)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(soak, mongo, stop))
    faults = asyncio.create_task(inject(soak, proxy, args.kill_every, stop))
    supervisor = asyncio.create_task(supervise(soak, stop))
    reporter = asyncio.create_task(progress(soak, mongo, stop))
    await submit(soak, requests, within=90)
    deadline = soak.started + args.max_minutes * 60
    while time.monotonic() < deadline and await unfinished(soak, mongo):
        await asyncio.sleep(2)
    stop.set()
    await faults
    await sampler
    await supervisor
    await reporter
    stuck = await unfinished(soak, mongo)
    present = {
        doc["_id"]: doc["status"]
        async for doc in mongo[soak.services.database].crawls.find({}, {"status": 1})
    }
    lost = sum(1 for job in soak.jobs if job not in present)
    statuses = Counter(present.get(job, "missing") for job in soak.jobs)
    events = [json.loads(m.body) for m in await drain(soak.services.rabbitmq_url, probe)]
    terminals = Counter(e["job_id"] for e in events if e.get("type") in TERMINAL_EVENTS)
    wrong_terminals = {j: terminals.get(j, 0) for j in soak.jobs if terminals.get(j, 0) != 1}
    dead: dict[str, list[bytes]] = {}
    for work_queue in routing.DEAD_LETTERED_QUEUES:
        name = routing.dead_letter_queue(work_queue)
        dead[name] = [m.body for m in await drain(soak.services.rabbitmq_url, name)]
    unexpected = {
        name: [b[:200].decode(errors="replace") for b in bodies if b not in poisoned]
        for name, bodies in dead.items()
    }
    unexpected = {name: bodies for name, bodies in unexpected.items() if bodies}
    poison_found = sum(1 for bodies in dead.values() for b in bodies if b in poisoned)
    ledger = await ledgers(soak)
    served = await asyncio.to_thread(extractions_served, soak)
    pages = await mongo[soak.services.database].crawl_pages.count_documents({})
    await mongo.close()
    large = next(iter(soak.jobs))
    return {
        "jobs": len(soak.jobs),
        "statuses": dict(statuses),
        "pages_recorded": pages,
        "large_job": {"id": large, "status": present.get(large)},
        "minutes": round((time.monotonic() - soak.started) / 60, 1),
        "faults_injected": len(soak.faults),
        "faults": soak.faults,
        "lost": lost,
        "stuck": stuck,
        "duplicates": ledger["duplicates"],
        "ledger_mismatches": ledger["ledger_mismatches"],
        "completed_ledgers_checked": ledger["completed"],
        "counter_samples": soak.samples,
        "counter_sample_errors": soak.sample_errors,
        "counter_decreases": soak.decreases,
        "jobs_without_exactly_one_terminal_event": wrong_terminals,
        "dead_letters_beyond_poison": unexpected,
        "poison_dead_lettered": poison_found,
        "submit_retries": soak.submit_retries,
        # Pages each crawler extracted for any crawl from crawler.extract (since its last
        # start): the large crawl's pages (5 KB each, over the inline threshold) are spread.
        "extractions_served_by_crawler": served,
        "processes_exited_and_restarted": soak.exits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--kill-every", type=float, default=20.0)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    # A SIGTERM (timeout, Ctrl-C's cousin) still stops the services and drops the vhost.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    amqp = os.environ["RABBITMQ_URL"]
    management = os.environ.get("RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672")
    mongo_url = os.environ["MONGODB_URL"]
    began = datetime.now(UTC)
    large_dir = ROOT / ".local" / f"bench-soak-site-{LARGE}"
    scale_site.generate(large_dir, LARGE)
    with ExitStack() as stack:
        services = stack.enter_context(private_services(amqp, management, mongo_url, prefix="soak"))
        sample_sites = [stack.enter_context(serving()) for _ in range(2)]
        large = stack.enter_context(scale_site.nginx(large_dir))
        result = asyncio.run(_main(args, services, {"sample": sample_sites, "large": large}))
    result = {"measured_at": began.strftime("%Y-%m-%d %H:%M UTC"), **result}
    ok = (
        result["lost"] == 0
        and result["stuck"] == 0
        and result["duplicates"] == 0
        and not result["ledger_mismatches"]
        and not result["counter_decreases"]
        and not result["jobs_without_exactly_one_terminal_event"]
        and not result["dead_letters_beyond_poison"]
        and result["poison_dead_lettered"] == 2
    )
    result["passed"] = ok
    text = json.dumps(result, indent=2)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text + "\n")
        print(f"written: {RESULTS.relative_to(ROOT)}")
    sys.exit(0 if ok else 1)


async def _main(
    args: argparse.Namespace, services: Services, sites: dict[str, Any]
) -> dict[str, Any]:
    amqp_port = urlsplit(services.rabbitmq_url).port or 5672
    proxy = TcpProxy("127.0.0.1", amqp_port)
    await proxy.start()
    proxied = _vhost_url(services.rabbitmq_url, services.rabbitmq_url, proxy.port)
    api_ports = [free_port(), free_port()]
    env = stack_env(
        services,
        api_ports[0],
        {
            # The APIs and crawlers reach RabbitMQ through the proxy; the status service not.
            "CRAWL_API_RABBITMQ_URL": proxied,
            "CRAWL_WORKER_RABBITMQ_URL": proxied,
            "CRAWL_API_TOKENS": json.dumps({TOKEN: {"user": "soak", "tenant": "soak"}}),
            **ENV,
        },
    )
    LOGS.mkdir(parents=True, exist_ok=True)
    stack = Stack(f"http://127.0.0.1:{api_ports[0]}", env, logs=LOGS)
    soak = Soak(services, proxied, stack, [f"http://127.0.0.1:{p}" for p in api_ports])
    for i in range(2):
        soak.modules[f"status-{i}"] = (
            "crawl_status",
            {"CRAWL_STATUS_METRICS_PORT": str(free_port())},
        )
    for i in range(3):
        soak.modules[f"crawler-{i}"] = (
            "crawl_worker",
            {
                "CRAWL_WORKER_WORKER_ID": f"soak-crawler-{i}",
                "CRAWL_WORKER_METRICS_PORT": str(free_port()),
            },
        )
    for i, port in enumerate(api_ports):
        soak.modules[f"api-{i}"] = ("crawl_api", {"CRAWL_API_PORT": str(port)})
    try:
        for name in soak.modules:
            soak.start(name)
        await _ready(soak)
        soak.started = time.monotonic()
        return await run(args, soak, proxy, sites)
    finally:
        for name in list(stack.processes):
            stack.kill(name)
        await proxy.cut()
        await asyncio.sleep(0.5)  # the cut connections' pipes finish before the loop closes


async def _ready(soak: Soak, within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as client:
        for base in soak.api_urls:
            while True:
                try:
                    if (await client.get(f"{base}/health/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{base} not ready within {within} s")
                await asyncio.sleep(0.5)


if __name__ == "__main__":
    main()
