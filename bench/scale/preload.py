"""A big history, written straight into a database through the schema lib.

``ensure_preload(url, database, fresh=False)`` leaves in ``database``:

- 100,000 jobs of 50 other tenants (2,000 each), created over the past six weeks: about 88 %
  ``completed``, 6 % ``failed``, 5 % ``cancelled``, 1 % ``running``; 10 page records each
  (1,000,000 in all: fetched pages with a short markdown text, links skipped as
  ``out_of_scope``, now and then a ``http_404``) and 3 log lines (2 for a running job);
- the bench tenant's own 2,000 finished jobs, with their pages and log lines (so its job list
  has depth);
- assistant runs: 50 per other tenant, and 300 of the bench tenant's assistant;
- every index the services declare (``crawl_schema.ensure_indexes``);
- a marker document (collection ``bench_preload``) with the preload's version, counts and
  duration: a database whose marker names this version is kept as it is (``fresh`` rebuilds).

Finished jobs expire 90 days after they finished (a longer retention than the services'
default, so no sweep deletes the history while the benchmark runs). Documents go in with
``insert_many`` batches of 1,000, several at once.

``reset(url, database)`` removes what a run of the benchmark added (every job of the bench
tenant created after the preload, with its pages, logs, leases and state; the bench
assistant's later runs), so each run starts from the same history; and marks the running jobs
of other tenants as alive now (their crawlers would be sending heartbeats).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from crawl_contracts import OrderingKey
from crawl_schema import (
    ensure_indexes,
    log_line,
    names,
    new_job_document,
    page_record,
)
from crawl_schema.keys import job_range
from crawl_schema.queries import assistant_runs, job_list

__all__ = [
    "BENCH_ASSISTANT",
    "BENCH_TENANT",
    "PRELOAD_VERSION",
    "ensure_preload",
    "reset",
]

PRELOAD_VERSION = 2
BENCH_TENANT = "bench"
BENCH_ASSISTANT = "bench-assistant"
OTHER_TENANTS = 50
JOBS_PER_TENANT = 2_000
BENCH_JOBS = 2_000
PAGES_PER_JOB = 10
RUNS_PER_TENANT = 50
BENCH_RUNS = 300
BATCH = 1_000
CONCURRENT_BATCHES = 4
HISTORY_DAYS = 42
RETENTION = timedelta(days=90)
MARKER = "bench_preload"

_COLLECTIONS = (
    names.CRAWLS,
    names.PAGES,
    names.LOGS,
    names.WEBHOOK_DELIVERIES,
    names.DEAD_LETTERS,
    names.STALL_MARKS,
    names.IDEMPOTENCY_KEYS,
    names.ASSISTANT_RUNS,
    names.CRAWLER_LEASES,
    names.CRAWLER_STATE,
)
_TEXT = (
    "The survey of the northern slopes counted more oaks than the last one did, and the "
    "beeches along the stream had grown a full metre since the spring. Notes follow on "
    "soil, light and the paths that cross the plot; each entry names the day it was made."
)


def _tenant(n: int) -> str:
    return f"tenant-{n:02d}"


def _status(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.88:
        return "completed"
    if roll < 0.94:
        return "failed"
    if roll < 0.99:
        return "cancelled"
    return "running"


class _History:
    """Generates the documents of one tenant's jobs (deterministic per tenant)."""

    def __init__(self, tenant: str, jobs: int, now: datetime, *, finished_only: bool) -> None:
        self.tenant = tenant
        self.jobs = jobs
        self.now = now
        self.finished_only = finished_only
        self.rng = random.Random(f"{PRELOAD_VERSION}:{tenant}")
        self.job_ids: list[str] = []
        self.running: list[str] = []

    def _request(self, host: str) -> dict[str, Any]:
        return {
            "url": f"https://{host}/",
            "max_pages": 100,
            "max_depth": 3,
            "bypass_robots_domains": [],
            "include": [],
            "exclude": [],
            "allow_subdomains": False,
            "sitemap": "include",
            "per_host_concurrency": None,
            "min_delay": None,
            "max_duration": None,
            "webhook": None,
        }

    def documents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(collection, document) for every job, its pages and its log lines."""
        rng = self.rng
        for n in range(self.jobs):
            job_id = str(uuid.UUID(bytes=rng.randbytes(16), version=4))
            self.job_ids.append(job_id)
            host = f"site{rng.randrange(20)}.{self.tenant}.example"
            created = self.now - timedelta(seconds=rng.uniform(3600, HISTORY_DAYS * 86400))
            status = "completed" if self.finished_only else _status(rng)
            if self.finished_only and rng.random() < 0.1:
                status = rng.choice(("failed", "cancelled"))
            started = created + timedelta(seconds=rng.uniform(0.05, 2))
            worker = f"crawler-{rng.randrange(4)}"
            pages: list[dict[str, Any]] = []
            counts = {"fetched": 0, "failed": 0, "skipped": 0}
            at = started
            for seq in range(2, 2 + PAGES_PER_JOB):
                at += timedelta(milliseconds=rng.uniform(20, 400))
                kind = rng.random()
                url = f"https://{host}/{n}/{seq}.html"
                fields: dict[str, Any]
                if kind < 0.55:
                    fields = {
                        "url": url,
                        "outcome": "fetched",
                        "http_status": 200,
                        "depth": 1 if seq > 2 else 0,
                        "attempts": 1,
                        "content_type": "text/html",
                        "title": f"{self.tenant} job {n} page {seq}",
                        "language": "en",
                        "markdown": f"# {self.tenant} {n} {seq}\n\n{_TEXT}\n\n{_TEXT[: seq * 20]}",
                        "content_hash": f"{rng.getrandbits(128):032x}",
                    }
                elif kind < 0.95:
                    fields = {
                        "url": f"https://elsewhere{seq}.example/{n}",
                        "outcome": "skipped",
                        "reason": "out_of_scope",
                        "depth": 2,
                        "attempts": 0,
                    }
                else:
                    fields = {
                        "url": url,
                        "outcome": "failed",
                        "reason": "http_404",
                        "http_status": 404,
                        "depth": 1,
                        "attempts": 1,
                        "content_type": "text/html",
                    }
                counts[fields["outcome"]] += 1
                pages.append(page_record(job_id, self.tenant, OrderingKey(1, seq), at, fields))
            last_seq = 2 + PAGES_PER_JOB
            logs = [
                log_line(
                    job_id,
                    self.tenant,
                    OrderingKey(1, 1),
                    level="info",
                    message=f"crawl started on worker {worker}",
                    at=started,
                ),
                log_line(
                    job_id,
                    self.tenant,
                    OrderingKey(1, last_seq),
                    level="warning",
                    message=f"robots.txt of {host} unreadable: allowed",
                    at=at,
                ),
            ]
            job = new_job_document(
                job_id,
                self.tenant,
                request=self._request(host),
                submitted_by=f"{self.tenant}-user",
                created_at=created,
            )
            job.update(
                status=status,
                started_at=started,
                started_key=[1, 1],
                worker_id=worker,
                last_activity_at=at,
                version=3,
            )
            discovered = PAGES_PER_JOB
            if status == "running":
                self.running.append(job_id)
                job["counters"] = {
                    "discovered": discovered + 6,
                    "queued": 5,
                    "in_flight": 1,
                    **counts,
                }
                job["counters_key"] = [1, last_seq]
            else:
                finished = at + timedelta(milliseconds=50)
                stop, error = {
                    "completed": ("exhausted", None),
                    "failed": (
                        "error",
                        {"code": "start_url_failed", "message": "the start URL failed: timeout"},
                    ),
                    "cancelled": ("cancelled", None),
                }[status]
                terminal_seq = last_seq + 1
                job["counters"] = {"discovered": discovered, "queued": 0, "in_flight": 0, **counts}
                job.update(
                    counters_key=[1, terminal_seq],
                    finished_at=finished,
                    last_activity_at=finished,
                    stop_reason=stop,
                    error=error,
                    expires_at=finished + RETENTION,
                    terminal={
                        "key": [1, terminal_seq],
                        "status": status,
                        "occurred_at": finished,
                        "stop_reason": stop,
                        "error": error,
                        "rank": 0,
                    },
                )
                logs.append(
                    log_line(
                        job_id,
                        self.tenant,
                        OrderingKey(1, terminal_seq),
                        level="error" if status == "failed" else "info",
                        message=f"crawl {status}: {counts['fetched']} pages fetched",
                        at=finished,
                    )
                )
            yield names.CRAWLS, job
            for page in pages:
                yield names.PAGES, page
            for line in logs:
                yield names.LOGS, line

    def runs(self, assistants: int, per_assistant: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """Assistant runs, each naming one of this tenant's jobs."""
        rng = self.rng
        for a in range(assistants):
            assistant = BENCH_ASSISTANT if self.tenant == BENCH_TENANT else f"assistant-{a}"
            for _ in range(per_assistant):
                job_id = rng.choice(self.job_ids)
                created = self.now - timedelta(seconds=rng.uniform(3600, HISTORY_DAYS * 86400))
                yield (
                    names.ASSISTANT_RUNS,
                    {
                        "_id": str(uuid.UUID(bytes=rng.randbytes(16), version=4)),
                        "assistant_id": assistant,
                        "tenant": self.tenant,
                        "created_by": f"{self.tenant}-user",
                        "created_at": created,
                        "jobs": [
                            {"url": f"https://site0.{self.tenant}.example/", "job_id": job_id}
                        ],
                    },
                )


async def _batches(
    documents: Iterator[tuple[str, dict[str, Any]]],
) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Full batches per collection, then the rest."""
    pending: dict[str, list[dict[str, Any]]] = {}
    for collection, doc in documents:
        batch = pending.setdefault(collection, [])
        batch.append(doc)
        if len(batch) >= BATCH:
            yield collection, pending.pop(collection)
            await asyncio.sleep(0)
    for collection, batch in pending.items():
        yield collection, batch


async def _load(
    db: AsyncDatabase[dict[str, Any]], now: datetime, jobs_per_tenant: int
) -> dict[str, Any]:
    """Write the whole history; its counts and the running jobs' ids."""
    counts: dict[str, int] = {}
    running: list[str] = []
    slots = asyncio.Semaphore(CONCURRENT_BATCHES)
    inflight: set[asyncio.Task[None]] = set()
    errors: list[BaseException] = []
    started = time.monotonic()

    async def insert(collection: str, batch: list[dict[str, Any]]) -> None:
        try:
            await db[collection].insert_many(batch, ordered=False)
        except BaseException as exc:
            errors.append(exc)
        finally:
            slots.release()

    async def write(documents: Iterator[tuple[str, dict[str, Any]]]) -> None:
        async for collection, batch in _batches(documents):
            if errors:
                raise errors[0]
            await slots.acquire()
            counts[collection] = counts.get(collection, 0) + len(batch)
            task = asyncio.create_task(insert(collection, batch))
            inflight.add(task)
            task.add_done_callback(inflight.discard)

    tenants = [(_tenant(n), jobs_per_tenant, False) for n in range(OTHER_TENANTS)]
    tenants.append((BENCH_TENANT, BENCH_JOBS, True))
    for i, (tenant, jobs, finished_only) in enumerate(tenants):
        history = _History(tenant, jobs, now, finished_only=finished_only)
        await write(history.documents())
        if tenant == BENCH_TENANT:
            await write(history.runs(1, BENCH_RUNS))
        else:
            await write(history.runs(1, RUNS_PER_TENANT))
        running += history.running
        if (i + 1) % 5 == 0 or i + 1 == len(tenants):
            total = sum(counts.values())
            rate = total / (time.monotonic() - started)
            print(
                f"  preload: {i + 1}/{len(tenants)} tenants, {total:,} documents ({rate:,.0f}/s)",
                flush=True,
            )
    if inflight:
        await asyncio.gather(*inflight)
    if errors:
        raise errors[0]
    return {"counts": counts, "running": running}


async def _ensure(url: str, database: str, fresh: bool, jobs_per_tenant: int) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    try:
        db = client[database]
        marker = await db[MARKER].find_one({"_id": "preload"})
        wanted = {"version": PRELOAD_VERSION, "jobs_per_tenant": jobs_per_tenant}
        if marker is not None and not fresh and all(marker.get(k) == v for k, v in wanted.items()):
            marker["reused"] = True
            return marker
        await client.drop_database(database)
        now = datetime.now(UTC).replace(microsecond=0)
        started = time.monotonic()
        loaded = await _load(db, now, jobs_per_tenant)
        inserted = time.monotonic() - started
        await ensure_indexes(db, *_COLLECTIONS)
        seconds = time.monotonic() - started
        marker = {
            "_id": "preload",
            **wanted,
            "history_until": now,
            "counts": loaded["counts"],
            "running": loaded["running"],
            "insert_seconds": round(inserted, 1),
            "seconds": round(seconds, 1),
            "made_at": datetime.now(UTC),
        }
        await db[MARKER].insert_one(marker)
        marker["reused"] = False
        return marker
    finally:
        await client.close()


def ensure_preload(
    url: str, database: str, *, fresh: bool = False, jobs_per_tenant: int = JOBS_PER_TENANT
) -> dict[str, Any]:
    """The preload's marker (see the module doc), making the preload first if needed (or if
    the one there has another version or size); ``reused`` says whether it was there."""
    return asyncio.run(_ensure(url, database, fresh, jobs_per_tenant))


async def _reset(url: str, database: str) -> dict[str, int]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    try:
        db = client[database]
        marker = await db[MARKER].find_one({"_id": "preload"})
        if marker is None:
            raise RuntimeError(f"{database} holds no preload")
        since = marker["made_at"]
        query = job_list(BENCH_TENANT, created_after=since)
        jobs = [
            (doc["_id"], doc["status"])
            async for doc in db[names.CRAWLS].find(query.filter, {"status": 1})
        ]
        ran = [job_id for job_id, status in jobs if status != "pending"]
        ids = [job_id for job_id, _ in jobs]
        for job_id in ran:  # their children are one _id range each
            for collection in (
                names.PAGES,
                names.LOGS,
                names.CRAWLER_STATE,
                names.STALL_MARKS,
                names.WEBHOOK_DELIVERIES,
            ):
                await db[collection].delete_many({"_id": job_range(job_id)})
            await db[names.DEAD_LETTERS].delete_many({"job_id": job_id})
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            await db[names.CRAWLS].delete_many({"_id": {"$in": chunk}})
            await db[names.CRAWLER_LEASES].delete_many({"_id": {"$in": chunk}})
        runs = assistant_runs(BENCH_TENANT, BENCH_ASSISTANT)
        later = {**runs.filter, "created_at": {"$gte": since}}
        run_ids = [doc["_id"] async for doc in db[names.ASSISTANT_RUNS].find(later, {"_id": 1})]
        if run_ids:
            await db[names.ASSISTANT_RUNS].delete_many({"_id": {"$in": run_ids}})
        # The running jobs of other tenants: alive, as their crawlers' heartbeats would say.
        running = list(marker.get("running") or [])
        now = datetime.now(UTC)
        for start in range(0, len(running), BATCH):
            await db[names.CRAWLS].update_many(
                {"_id": {"$in": running[start : start + BATCH]}},
                {"$set": {"last_activity_at": now}},
            )
        return {"jobs_removed": len(ids), "runs_removed": len(run_ids), "running": len(running)}
    finally:
        await client.close()


def reset(url: str, database: str) -> dict[str, int]:
    """Remove what earlier runs added to the preloaded database (see the module doc)."""
    return asyncio.run(_reset(url, database))
