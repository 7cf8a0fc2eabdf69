"""The reference for GET throughput: a bare Litestar endpoint returning a constant document."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get

DOCUMENT = {
    "id": "00000000-0000-4000-8000-000000000000",
    "status": "running",
    "counters": {"discovered": 10, "queued": 2, "in_flight": 1, "fetched": 5, "failed": 1},
}


@get("/status")
async def status() -> dict[str, Any]:
    return DOCUMENT


def create() -> Litestar:
    return Litestar(route_handlers=[status], logging_config=None)
