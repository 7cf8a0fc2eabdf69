"""The Celery peer of the API benchmark: a task that fetches and extracts one page."""

from __future__ import annotations

import os
from typing import Any

import httpx
import trafilatura
from celery import Celery

app = Celery(
    "bench",
    broker=os.environ.get("BENCH_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//"),
    backend="rpc://",
)
app.conf.update(task_serializer="json", result_serializer="json", worker_prefetch_multiplier=4)


@app.task(name="bench.fetch_extract")  # type: ignore[misc]
def fetch_extract(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=30)
    text = trafilatura.extract(response.text, output_format="markdown")
    return {"url": url, "status": response.status_code, "chars": len(text or "")}
