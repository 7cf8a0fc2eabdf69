"""Tools of the reliability tests: a slow site, an event probe, a TCP proxy to cut, waits."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from faststream.rabbit import RabbitBroker, RabbitQueue

from crawl_contracts import routing
from crawl_runtime.topology import crawl_exchange
from tests.sites.serve import SAMPLE

TERMINAL_EVENTS = {"CrawlCompleted", "CrawlFailed", "CrawlCancelled"}


def private_logs(name: str) -> Path:
    """A folder for the service logs of one test module (the shared e2e folder may be written
    by other runs at the same time); give it to ``running_stack(..., logs=...)``."""
    return Path(tempfile.gettempdir()) / "crawl-reliability" / f"{name}-{os.getpid()}"


class _SlowHandler(SimpleHTTPRequestHandler):
    delay = 0.0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/robots.txt":
            time.sleep(self.delay)
        super().do_GET()


@contextmanager
def slow_site(delay: float) -> Iterator[str]:
    """The sample site, every page answered after ``delay`` seconds."""
    handler_class = type("Handler", (_SlowHandler,), {"delay": delay})
    handler = functools.partial(handler_class, directory=str(SAMPLE))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class EventProbe:
    """Every command and event published in the vhost, collected from a private queue bound
    to ``crawl.#``: what the services really said."""

    def __init__(self, amqp_url: str) -> None:
        self._broker = RabbitBroker(amqp_url, logger=None)
        self._name = f"probe.{uuid.uuid4().hex[:8]}"
        self._queue: Any = None
        self.events: list[dict[str, Any]] = []

    async def start(self) -> None:
        await self._broker.connect()
        exchange = await self._broker.declare_exchange(crawl_exchange())
        self._queue = await self._broker.declare_queue(
            RabbitQueue(self._name, auto_delete=True, durable=False)
        )
        await self._queue.bind(exchange, routing_key=routing.ALL_PATTERN)

    async def drain(self) -> None:
        while (message := await self._queue.get(fail=False, no_ack=True)) is not None:
            self.events.append(json.loads(message.body))

    async def of(self, job_id: str) -> list[dict[str, Any]]:
        await self.drain()
        return [e for e in self.events if e.get("job_id") == job_id]

    async def terminals(self, job_id: str) -> list[dict[str, Any]]:
        return [e for e in await self.of(job_id) if e["type"] in TERMINAL_EVENTS]

    async def stop(self) -> None:
        await self._broker.stop()


@asynccontextmanager
async def event_probe(amqp_url: str) -> AsyncIterator[EventProbe]:
    probe = EventProbe(amqp_url)
    await probe.start()
    try:
        yield probe
    finally:
        await probe.stop()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target until ``cut()``; ``restore()`` listens again on
    the same port. Cutting closes every open connection and refuses new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 30.0, every: float = 0.05
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(every)


async def wait_ready(api_url: str, within: float = 60.0) -> None:
    async with httpx.AsyncClient(base_url=api_url, timeout=2) as client:

        async def ready() -> bool:
            try:
                return (await client.get("/health/ready")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, within, every=0.2)


async def wait_status(
    client: httpx.AsyncClient, location: str, statuses: set[str], within: float = 60.0
) -> dict[str, Any]:
    job: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal job
        job = (await client.get(location)).json()
        return job["status"] in statuses

    try:
        await eventually(reached, within, every=0.02)
    except AssertionError as exc:
        raise AssertionError(f"{location} not {statuses} but {job}") from exc
    return job


async def ledger(client: httpx.AsyncClient, location: str) -> dict[str, str]:
    """The job's pages as URL -> outcome (reason, for skips)."""
    result: dict[str, str] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"{location}/pages", params=params)).json()
        for item in page["items"]:
            outcome = item["outcome"]
            result[item["url"]] = outcome if outcome != "skipped" else f"skipped:{item['reason']}"
        cursor = page["next_cursor"]
        if cursor is None:
            return result


async def reference_ledger(client: httpx.AsyncClient, request: dict[str, Any]) -> dict[str, str]:
    """Crawl ``request`` once, uninterrupted, to completion: its ledger (what a crawl that
    loses a process along the way must still end with)."""
    location = (await client.post("/api/v1/crawls", json=request)).headers["Location"]
    done = await wait_status(client, location, {"completed", "failed", "cancelled"}, within=120)
    assert done["status"] == "completed", done
    return await ledger(client, location)


async def running_past(crawls: Any, job_id: str, fetched: int = 8) -> dict[str, Any]:
    """Wait (at most 60 s) until the job runs with at least ``fetched`` pages fetched; its
    document then (``crawls``: the database's crawls collection)."""
    doc: dict[str, Any] | None = None

    async def past() -> bool:
        nonlocal doc
        doc = await crawls.find_one({"_id": job_id})
        return (
            doc is not None and doc["status"] == "running" and doc["counters"]["fetched"] >= fetched
        )

    await eventually(past, within=60)
    assert doc is not None
    return doc
