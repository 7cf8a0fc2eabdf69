"""Waiting for a job over the API, as tests and benchmarks do."""

from __future__ import annotations

import time
from typing import Any

import httpx

__all__ = ["FINISHED", "wait_finished"]

FINISHED = frozenset({"completed", "failed", "cancelled"})


def wait_finished(client: httpx.Client, location: str, timeout: float = 60) -> dict[str, Any]:
    """The job at ``location`` (``/api/v1/crawls/<id>``) once finished, asked by long polls
    (``Prefer: wait``); ``TimeoutError`` if it has not finished within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        wait = max(1, min(5, int(left)))
        job: dict[str, Any] = client.get(location, headers={"Prefer": f"wait={wait}"}).json()
        if job["status"] in FINISHED:
            return job
    raise TimeoutError(f"job at {location} did not finish within {timeout} s")
