"""``make bench-api``: the API and job overhead against Scrapyd, Celery and a bare Litestar app.

Everything runs on this machine, on loopback, in one run: a private RabbitMQ vhost and a
private database are created for it and removed afterwards. Each load phase is bounded in
request count and time. Results go to ``bench/results/api.json`` (one object per figure with
``ours``, ``peer`` and ``unit``) and are printed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import aiohttp
import httpx

from crawl_contracts import routing

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = ROOT / "bench" / "results" / "api.json"
SAMPLE = ROOT / "tests" / "sites" / "sample"
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
MONGODB_URL = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
MANAGEMENT_URL = os.environ.get("RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672")
TOKEN = "bench-token"
CONCURRENCY = 50
POSTS = int(os.environ.get("BENCH_POSTS", "1000"))
GETS = int(os.environ.get("BENCH_GETS", "5000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))  # alternating rounds of POST and GET phases
LATENCY_JOBS = int(os.environ.get("BENCH_LATENCY_JOBS", "50"))
BURST_JOBS = int(os.environ.get("BENCH_BURST_JOBS", "200"))
API_WORKERS = int(os.environ.get("BENCH_API_WORKERS", "2"))
PHASE_TIMEOUT = float(os.environ.get("BENCH_PHASE_TIMEOUT", "120"))
OPEN_RATE = float(os.environ.get("BENCH_OPEN_RATE", "200"))  # submits/s of the open-loop phase
OPEN_SECONDS = float(os.environ.get("BENCH_OPEN_SECONDS", "10"))
TERMINAL = {"completed", "failed", "cancelled"}
LOGS = ROOT / ".local" / "logs" / "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def process(name: str, args: list[str], env: dict[str, str], cwd: Path = ROOT) -> Iterator[None]:
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def private_vhost() -> Iterator[str]:
    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    parts = urlsplit(RABBITMQ_URL)
    auth = (parts.username or "guest", parts.password or "guest")
    with httpx.Client(base_url=MANAGEMENT_URL, auth=auth, timeout=10) as api:
        api.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
        api.put(
            f"/api/permissions/{quote(vhost, safe='')}/{quote(auth[0], safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
        try:
            yield urlunsplit((parts.scheme, parts.netloc, "/" + quote(vhost, safe=""), "", ""))
        finally:
            api.delete(f"/api/vhosts/{quote(vhost, safe='')}")


async def settle(vhost_url: str, within: float = 120) -> None:
    """Wait until the status service has taken every message queued for it (the exact count
    over its partitions, from passive declares), so that one phase's background work is not
    measured in the next."""
    connection = await aio_pika.connect(vhost_url)
    try:
        channel = await connection.channel()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            ready = 0
            for queue in routing.STATUS_PARTITION_QUEUES:
                declared = await channel.declare_queue(queue, passive=True)
                ready += declared.declaration_result.message_count or 0
            if not ready:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # the last prefetched ones
    finally:
        await connection.close()


# -- load generation ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    """One kind of request a load phase sends."""

    method: str
    url: str
    json_body: Any = None
    form: dict[str, str] | None = None
    headers: dict[str, str] | None = None

    async def send(self, client: aiohttp.ClientSession) -> bool:
        """Send it once; whether it was answered without an error."""
        async with client.request(
            self.method, self.url, json=self.json_body, data=self.form, headers=self.headers
        ) as response:
            await response.read()
            return response.status < 400


def statistics_of(latencies: list[float], errors: int, elapsed: float) -> dict[str, float]:
    return {
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "rps": len(latencies) / elapsed,
        "errors": errors,
        "requests": len(latencies),
    }


async def drive(count: int, load: Load) -> dict[str, float]:
    """Closed loop: ``count`` requests from ``CONCURRENCY`` clients on kept-alive
    connections; latency percentiles and throughput.

    The load generator is aiohttp, not httpx: on 2 cores shared with the servers under test,
    httpx's client spent more CPU per request than the API answering it (a third of the
    machine at 100 requests/s), and its queueing showed up as server latency on both sides.
    """
    latencies: list[float] = []
    errors = 0
    counter = iter(range(count))
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=30)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def worker() -> None:
            nonlocal errors
            for _ in counter:
                started = time.perf_counter()
                answered = await load.send(client)
                latencies.append(time.perf_counter() - started)
                errors += not answered

        started = time.perf_counter()
        tasks = [asyncio.create_task(worker()) for _ in range(CONCURRENCY)]
        _, late = await asyncio.wait(tasks, timeout=PHASE_TIMEOUT)
        for task in late:  # bounded in time: what finished by then is what counts
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        elapsed = time.perf_counter() - started
    return statistics_of(latencies, errors, elapsed)


async def drive_open(rate: float, seconds: float, load: Load) -> dict[str, float]:
    """Open loop: requests leave at a steady ``rate`` for ``seconds`` whether or not earlier
    ones were answered (as independent clients send them), each timed from the moment it was
    due to leave, so a stall shows in every request it delays (no coordinated omission)."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def one(due: float) -> None:
            nonlocal errors
            try:
                errors += not await load.send(client)
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
            latencies.append(time.perf_counter() - due)

        started = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.wait(tasks, timeout=PHASE_TIMEOUT)
        elapsed = time.perf_counter() - started
    return {**statistics_of(latencies, errors, elapsed), "offered_rps": rate}


# -- our stack ---------------------------------------------------------------------------


def our_env(vhost_url: str, database: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "CRAWL_API_RABBITMQ_URL": vhost_url,
        "CRAWL_API_MONGODB_URL": MONGODB_URL,
        "CRAWL_API_MONGODB_DATABASE": database,
        "CRAWL_API_PORT": str(port),
        "CRAWL_API_WORKERS": str(API_WORKERS),
        "CRAWL_API_TOKENS": json.dumps({TOKEN: {"user": "bench", "tenant": "bench"}}),
        "CRAWL_API_RATE_LIMIT_PER_SECOND": "100000",
        "CRAWL_API_RATE_LIMIT_BURST": "100000",
        # No cap: the first phase submits thousands of jobs that no crawler takes.
        "CRAWL_API_MAX_RUNNING_JOBS_PER_TENANT": "0",
        "CRAWL_API_LOG_LEVEL": "WARNING",
        "CRAWL_WORKER_RABBITMQ_URL": vhost_url,
        "CRAWL_WORKER_ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8"]),
        "CRAWL_WORKER_EXTRACT_PROCESSES": "2",
        "CRAWL_WORKER_MAX_JOBS": "32",
        "CRAWL_WORKER_LOG_LEVEL": "WARNING",
        "CRAWL_STATUS_RABBITMQ_URL": vhost_url,
        "CRAWL_STATUS_MONGODB_URL": MONGODB_URL,
        "CRAWL_STATUS_MONGODB_DATABASE": database,
        "CRAWL_STATUS_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def one_page_request(page: str) -> dict[str, Any]:
    return {"url": page, "max_pages": 1, "max_depth": 0}


async def our_job_latency(api: str, page: str, jobs: int) -> list[float]:
    """POST, then long-poll GET until ``completed`` is visible; one job at a time. (aiohttp,
    like ``drive``: the client's own CPU competes with the servers on this machine.)"""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    durations = []
    async with aiohttp.ClientSession(
        base_url=api, headers=headers, timeout=aiohttp.ClientTimeout(total=60)
    ) as client:
        for _ in range(jobs):
            started = time.perf_counter()
            async with client.post("/api/v1/crawls", json=one_page_request(page)) as created:
                location = created.headers["Location"]
            etag = None
            while True:
                wait = {"Prefer": "wait=10", **({"If-None-Match": etag} if etag else {})}
                async with client.get(location, headers=wait) as response:
                    etag = response.headers.get("ETag")
                    body = await response.json() if response.status == 200 else None
                if body is not None and body["status"] == "completed":
                    break
            durations.append(time.perf_counter() - started)
    return durations


async def our_burst(api: str, page: str, jobs: int) -> float:
    """Submit ``jobs`` at once (50 clients); one-page jobs finished per second until the
    last is seen ``completed``. The jobs are then awaited one after the other, in the order
    they were submitted, each by a long poll (``Prefer: wait``) on its status: as Celery's
    side waits on each task's result in turn. (Polling the listing instead added up to half
    its interval to the figure, and each poll read the whole collection, which grew from
    round to round.)"""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(
        base_url=api,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=PHASE_TIMEOUT),
        connector=aiohttp.TCPConnector(limit=CONCURRENCY),
    ) as client:

        async def submit() -> str:
            async with client.post("/api/v1/crawls", json=one_page_request(page)) as response:
                return str(response.headers["Location"])

        async def completed(location: str) -> bool:
            etag = None
            while True:
                wait = {"Prefer": "wait=30", **({"If-None-Match": etag} if etag else {})}
                async with client.get(location, headers=wait) as response:
                    etag = response.headers.get("ETag")
                    body = await response.json() if response.status == 200 else None
                if body is not None and body["status"] in TERMINAL:
                    return bool(body["status"] == "completed")

        started = time.perf_counter()
        locations = await asyncio.gather(*(submit() for _ in range(jobs)))
        finished = 0
        try:
            async with asyncio.timeout(PHASE_TIMEOUT):
                for location in locations:
                    finished += await completed(location)
        except TimeoutError:
            return 0.0
        return finished / (time.perf_counter() - started)


# -- peers -------------------------------------------------------------------------------


def scrapyd_config(directory: Path, port: int, poll_interval: float) -> None:
    (directory / "scrapyd.conf").write_text(
        "[scrapyd]\n"
        f"bind_address = 127.0.0.1\nhttp_port = {port}\npoll_interval = {poll_interval}\n"
        "max_proc = 8\nfinished_to_keep = 5000\njobs_to_keep = 1\n"
        f"logs_dir = {directory / 'logs'}\neggs_dir = {directory / 'eggs'}\n"
        f"dbs_dir = {directory / 'dbs'}\n"
        "[settings]\nbench = benchspider.settings\n"
    )
    # ``scrapy list`` (run by schedule.json to check the spider) finds the project here.
    (directory / "scrapy.cfg").write_text("[settings]\nbench = benchspider.settings\n")


@contextmanager
def scrapyd(poll_interval: float) -> Iterator[str]:
    directory = Path(tempfile.mkdtemp(prefix="bench-scrapyd-"))
    port = free_port()
    scrapyd_config(directory, port, poll_interval)
    env = {**os.environ, "PYTHONPATH": str(HERE / "scrapyd_project")}
    try:
        with process("scrapyd", [sys.executable, "-m", "scrapyd"], env, cwd=directory):
            wait_http(f"http://127.0.0.1:{port}/daemonstatus.json")
            yield f"http://127.0.0.1:{port}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def scrapyd_job_latency(base: str, page: str, jobs: int) -> list[float]:
    durations = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        for _ in range(jobs):
            started = time.perf_counter()
            job = (
                await client.post(
                    "/schedule.json", data={"project": "bench", "spider": "one", "url": page}
                )
            ).json()["jobid"]
            while (await client.get("/status.json", params={"job": job})).json()[
                "currstate"
            ] != "finished":
                await asyncio.sleep(0.05)
            durations.append(time.perf_counter() - started)
    return durations


async def scrapyd_burst(base: str, page: str, jobs: int) -> float:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        started = time.perf_counter()
        for _ in range(jobs):
            await client.post(
                "/schedule.json", data={"project": "bench", "spider": "one", "url": page}
            )
        deadline = time.monotonic() + PHASE_TIMEOUT
        finished = 0
        while time.monotonic() < deadline:
            listed = (await client.get("/listjobs.json", params={"project": "bench"})).json()
            finished = len(listed["finished"])
            if finished >= jobs:
                break
            await asyncio.sleep(0.2)
        return finished / (time.perf_counter() - started)


@contextmanager
def celery_worker(vhost_url: str) -> Iterator[dict[str, str]]:
    env = {**os.environ, "BENCH_CELERY_BROKER": vhost_url, "PYTHONPATH": str(HERE)}
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "celery_app",
        "worker",
        "-c",
        "2",
        "-P",
        "prefork",
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
    ]
    with process("celery", args, env, cwd=HERE):
        yield env


def celery_client(vhost_url: str, page: str) -> Any:
    """The bench's Celery app, as a client of ``vhost_url``, its workers warmed."""
    sys.path.insert(0, str(HERE))
    os.environ["BENCH_CELERY_BROKER"] = vhost_url
    import celery_app  # noqa: PLC0415  (configured from the environment just set)

    celery_app.app.conf.broker_url = vhost_url
    celery_app.fetch_extract.delay(page).get(timeout=120)  # workers up, queues declared
    return celery_app


def celery_job(celery_app: Any, page: str) -> float:
    started = time.perf_counter()
    celery_app.fetch_extract.delay(page).get(timeout=60)
    return time.perf_counter() - started


def celery_burst(celery_app: Any, page: str, jobs: int) -> float:
    started = time.perf_counter()
    results = [celery_app.fetch_extract.delay(page) for _ in range(jobs)]
    for result in results:
        result.get(timeout=PHASE_TIMEOUT)
    return jobs / (time.perf_counter() - started)


async def interleaved_latency(
    api: str, page: str, jobs: int, celery_app: Any
) -> tuple[list[float], list[float]]:
    """One of our jobs, then one Celery task, ``jobs`` times: both sides see the same
    machine, however its speed drifts."""
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(jobs):
        ours += await our_job_latency(api, page, 1)
        theirs.append(celery_job(celery_app, page))  # blocks the loop: nothing else runs
    return ours, theirs


# -- the run -----------------------------------------------------------------------------


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each statistic's median over the rounds."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def rounds(ours: list[dict[str, float]], peer: list[dict[str, float]], key: str) -> list[Any]:
    """Every round's (ours, peer) pair of one statistic."""
    return [[round(a[key], 1), round(b[key], 1)] for a, b in zip(ours, peer, strict=True)]


def figure(
    ours: float, peer: float, unit: str, peer_name: str, better: str, **extra: Any
) -> dict[str, Any]:
    return {
        "ours": round(ours, 3),
        "peer": round(peer, 3),
        "unit": unit,
        "peer_name": peer_name,
        "better": better,
        **extra,
    }


def main() -> None:
    figures: dict[str, dict[str, Any]] = {}
    database = f"bench_{uuid.uuid4().hex[:8]}"
    databases = [database]
    site_port = free_port()
    base_env = dict(os.environ)
    with (
        private_vhost() as vhost_url,
        process(
            "site",
            [sys.executable, "-m", "tests.sites.serve", str(SAMPLE), str(site_port)],
            base_env,
        ),
    ):
        page = f"http://127.0.0.1:{site_port}/broadleaves/english-oak.html"
        wait_http(page)
        api_port = free_port()
        env = our_env(vhost_url, database, api_port)
        api = f"http://127.0.0.1:{api_port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        body = one_page_request(page)

        # 1. POST and GET against their peers, in alternating rounds (medians reported): on
        # a noisy machine one long run of each side says little about their ratio.
        bare_port = free_port()
        bare_args = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bare_litestar:create",
            "--port",
            str(bare_port),
            "--workers",
            str(API_WORKERS),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        bare = f"http://127.0.0.1:{bare_port}/status"
        form = {"project": "bench", "spider": "one", "url": page}
        posts: list[dict[str, float]] = []
        posts_sd: list[dict[str, float]] = []
        opens: list[dict[str, float]] = []
        opens_sd: list[dict[str, float]] = []
        gets: list[dict[str, float]] = []
        gets_bare: list[dict[str, float]] = []
        with (
            # The API alone (no crawler: jobs wait in the queue) and Scrapyd whose poller
            # never launches (accept cost only).
            process("status", [sys.executable, "-m", "crawl_status"], env),
            process("api", [sys.executable, "-m", "crawl_api"], env),
            process("bare", bare_args, {**base_env, "PYTHONPATH": str(HERE)}, cwd=HERE),
            scrapyd(poll_interval=3600) as sd,
        ):
            wait_http(f"{api}/health/ready")
            wait_http(bare)
            submit = Load("POST", f"{api}/api/v1/crawls", json_body=body, headers=headers)
            schedule = Load("POST", f"{sd}/schedule.json", form=form)
            for _ in range(ROUNDS):
                posts.append(asyncio.run(drive(POSTS, submit)))
                # Not while the status service still projects the commands just sent.
                asyncio.run(settle(vhost_url))
                posts_sd.append(asyncio.run(drive(POSTS, schedule)))
            for _ in range(ROUNDS):
                opens.append(asyncio.run(drive_open(OPEN_RATE, OPEN_SECONDS, submit)))
                asyncio.run(settle(vhost_url))
                opens_sd.append(asyncio.run(drive_open(OPEN_RATE, OPEN_SECONDS, schedule)))
            job_id = httpx.post(
                f"{api}/api/v1/crawls", json=body, headers=headers, timeout=120
            ).json()["id"]
            asyncio.run(settle(vhost_url))
            for _ in range(ROUNDS):
                read = Load("GET", f"{api}/api/v1/crawls/{job_id}", headers=headers)
                gets.append(asyncio.run(drive(GETS, read)))
                gets_bare.append(asyncio.run(drive(GETS, Load("GET", bare))))
        print("ours POST", posts, "GET", gets, flush=True)
        print("scrapyd POST", posts_sd, "bare GET", gets_bare, flush=True)
        print("open loop POST ours", opens, "scrapyd", opens_sd, flush=True)
        post, post_sd = medians(posts), medians(posts_sd)
        opened, opened_sd = medians(opens), medians(opens_sd)
        figures["post_open_loop_p99"] = figure(
            opened["p99_ms"],
            opened_sd["p50_ms"],
            "ms",
            f"Scrapyd schedule.json p50, both at a steady {OPEN_RATE:g} submits/s",
            "lower",
            target="ours p99 <= Scrapyd p50 at the same rate",
            met=opened["p99_ms"] <= opened_sd["p50_ms"],
            ours_p50=round(opened["p50_ms"], 2),
            peer_p99=round(opened_sd["p99_ms"], 2),
            rounds=[
                [round(a["p99_ms"], 1), round(b["p50_ms"], 1)]
                for a, b in zip(opens, opens_sd, strict=True)
            ],
        )
        get_ours, get_bare = medians(gets), medians(gets_bare)
        figures["post_latency_p50"] = figure(
            post["p50_ms"],
            post_sd["p50_ms"],
            "ms",
            "Scrapyd schedule.json",
            "lower",
            rounds=rounds(posts, posts_sd, "p50_ms"),
        )
        figures["post_latency_p99"] = figure(
            post["p99_ms"],
            post_sd["p99_ms"],
            "ms",
            "Scrapyd schedule.json",
            "lower",
            target="ours p99 < Scrapyd p50",
            met=post["p99_ms"] < post_sd["p50_ms"],
            rounds=rounds(posts, posts_sd, "p99_ms"),
        )
        figures["post_throughput"] = figure(
            post["rps"],
            post_sd["rps"],
            "requests/s",
            "Scrapyd schedule.json",
            "higher",
            target="ours >= peer at saturation",
            met=post["rps"] >= post_sd["rps"],
            rounds=rounds(posts, posts_sd, "rps"),
        )
        figures["get_status_throughput"] = figure(
            get_ours["rps"],
            get_bare["rps"],
            "requests/s",
            "bare Litestar constant",
            "higher",
            target="ours >= 40 % of peer",
            met=get_ours["rps"] >= 0.4 * get_bare["rps"],
            rounds=rounds(gets, gets_bare, "rps"),
        )

    # 2. Job overhead, on a fresh vhost and database so the queued POSTs above do not count.
    database = f"bench_{uuid.uuid4().hex[:8]}"
    databases.append(database)
    with (
        private_vhost() as vhost_url,
        process(
            "site",
            [sys.executable, "-m", "tests.sites.serve", str(SAMPLE), str(site_port)],
            base_env,
        ),
    ):
        page = f"http://127.0.0.1:{site_port}/broadleaves/english-oak.html"
        wait_http(page)
        env = our_env(vhost_url, database, api_port)
        # Our stack and Celery's workers run side by side (each idle while the other is
        # measured); latency jobs alternate one by one, bursts round by round.
        ours_rates: list[float] = []
        celery_rates: list[float] = []
        with (
            process("status", [sys.executable, "-m", "crawl_status"], env),
            process("crawler", [sys.executable, "-m", "crawl_worker"], env),
            process("api", [sys.executable, "-m", "crawl_api"], env),
            celery_worker(vhost_url),
        ):
            wait_http(f"{api}/health/ready")
            asyncio.run(our_job_latency(api, page, 3))  # warm up
            celery = celery_client(vhost_url, page)
            ours_latency, celery_latency = asyncio.run(
                interleaved_latency(api, page, LATENCY_JOBS, celery)
            )
            for _ in range(ROUNDS):
                ours_rates.append(asyncio.run(our_burst(api, page, BURST_JOBS)))
                asyncio.run(settle(vhost_url))
                celery_rates.append(celery_burst(celery, page, BURST_JOBS))
        ours_rate = statistics.median(ours_rates)
        celery_rate = statistics.median(celery_rates)
        print("ours job p50", statistics.median(ours_latency), "rates", ours_rates, flush=True)
        print("celery job p50", statistics.median(celery_latency), "rates", celery_rates)

        with scrapyd(poll_interval=0.1) as sd:
            sd_jobs = int(os.environ.get("BENCH_SCRAPYD_LATENCY_JOBS", "10"))
            sd_latency = asyncio.run(scrapyd_job_latency(sd, page, sd_jobs))
            sd_rate = asyncio.run(scrapyd_burst(sd, page, BURST_JOBS))
        print("scrapyd job p50", statistics.median(sd_latency), "rate", sd_rate, flush=True)

    p50 = statistics.median(ours_latency) * 1000
    celery_p50 = statistics.median(celery_latency) * 1000
    sd_p50 = statistics.median(sd_latency) * 1000
    figures["job_latency_p50_vs_celery"] = figure(
        p50,
        celery_p50,
        "ms",
        "Celery (RabbitMQ, rpc://, 2 prefork workers)",
        "lower",
        target="ours < peer",
        met=p50 < celery_p50,
        jobs=LATENCY_JOBS,
    )
    figures["job_latency_p50_vs_scrapyd"] = figure(
        p50,
        sd_p50,
        "ms",
        "Scrapyd one-page spider",
        "lower",
        target="ours <= peer / 10",
        met=p50 * 10 <= sd_p50,
        jobs=LATENCY_JOBS,
        peer_jobs=len(sd_latency),
    )
    figures["jobs_per_second_vs_celery"] = figure(
        ours_rate,
        celery_rate,
        "jobs/s",
        "Celery (RabbitMQ, rpc://, 2 prefork workers)",
        "higher",
        target="ours > peer",
        met=ours_rate > celery_rate,
        jobs=BURST_JOBS,
        rounds=[[round(a, 1), round(b, 1)] for a, b in zip(ours_rates, celery_rates, strict=True)],
    )
    figures["jobs_per_second_vs_scrapyd"] = figure(
        ours_rate,
        sd_rate,
        "jobs/s",
        "Scrapyd one-page spider",
        "higher",
        target="ours >= 10 x peer",
        met=ours_rate >= 10 * sd_rate,
        jobs=BURST_JOBS,
    )
    from pymongo import MongoClient  # noqa: PLC0415

    with MongoClient(MONGODB_URL) as mongo:  # the run's private databases
        for name in mongo.list_database_names():
            if name in databases:
                mongo.drop_database(name)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "command": "make bench-api",
                "api_workers": API_WORKERS,
                "concurrency": CONCURRENCY,
                "figures": figures,
            },
            indent=2,
        )
        + "\n"
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
