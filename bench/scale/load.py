"""Load and latency drivers: one client in a loop (latency), many clients for a while
(throughput).

Throughput uses aiohttp on kept-alive connections, as ``bench/api/run.py`` does: on 2 cores
shared with the servers under test, a lighter client leaves them more of the machine.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import httpx

__all__ = ["percentile", "sse_seconds", "throughput", "timed_gets"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed_gets(client: httpx.Client, path: str, count: int) -> list[float]:
    """``count`` GETs of ``path`` one after the other; each one's seconds (body read)."""
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path)
        response.read()
        durations.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
    return durations


def sse_seconds(client: httpx.Client, path: str) -> tuple[float, int]:
    """Seconds to read a finished job's whole event stream, and how many events it held."""
    started = time.perf_counter()
    events = 0
    with client.stream("GET", path, headers={"Accept": "text/event-stream"}) as response:
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
        for line in response.iter_lines():
            if line.startswith("event:"):
                events += 1
    return time.perf_counter() - started, events


async def _throughput(
    url: str,
    method: str,
    headers: dict[str, str],
    body: Any,
    clients: int,
    seconds: float,
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        stop = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                started = time.perf_counter()
                async with session.request(method, url, json=body, headers=headers) as response:
                    await response.read()
                latencies.append(time.perf_counter() - started)
                if response.status >= 400:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def throughput(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str],
    body: Any = None,
    clients: int = 50,
    seconds: float = 5.0,
) -> dict[str, float]:
    """``clients`` concurrent clients sending requests for ``seconds``: requests per second
    (every request that finished, over the time until the last one did), latency, errors."""
    return asyncio.run(_throughput(url, method, headers, body, clients, seconds))
