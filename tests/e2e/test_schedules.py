"""Schedules end to end: two replicas of the status service fire a 5-second schedule exactly
once per tick for a minute (each tick's command reaches the broker once), and a tick missed
while every replica was stopped fires once when one returns."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest

from crawl_contracts import routing
from crawl_stack import Services, Stack, free_port, running_stack
from tests.sites.serve import serving

pytestmark = pytest.mark.e2e

EVERY = 5


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    with running_stack(services) as running:
        start_status(running, "status-2")
        running.wait_ready()
        yield running


def start_status(stack: Stack, name: str) -> None:
    port = free_port()
    stack.metrics_urls[name] = f"http://127.0.0.1:{port}"
    stack.start(name, "crawl_status", CRAWL_STATUS_METRICS_PORT=str(port))


async def runs(client: httpx.AsyncClient, location: str) -> list[dict[str, Any]]:
    answer = await client.get(f"{location}/runs", params={"limit": 200})
    assert answer.status_code == 200, answer.text
    return list(reversed(answer.json()["items"]))  # oldest first


def tick_of(run: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(run["tick"].replace("Z", "+00:00"))


def fired_at(run: dict[str, Any]) -> float:
    return datetime.fromisoformat(run["fired_at"].replace("Z", "+00:00")).timestamp()


async def count_commands(services: Services, stop: asyncio.Event, seen: Counter[str]) -> None:
    """Count every ``CrawlRequested`` the broker routes, by job id (a queue of our own)."""
    connection = await aio_pika.connect_robust(services.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(routing.EXCHANGE)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing.routing_key("CrawlRequested"))

        async def count(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            seen[json.loads(message.body)["job_id"]] += 1

        await queue.consume(count, no_ack=True)
        await stop.wait()


async def test_a_schedule_fires_once_per_tick_with_two_replicas_and_once_after_downtime(
    stack: Stack, services: Services
) -> None:
    seen: Counter[str] = Counter()
    stop = asyncio.Event()
    counting = asyncio.create_task(count_commands(services, stop, seen))
    await asyncio.sleep(1)  # the counting queue is bound before the first tick
    client = httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=10)
    with serving() as site:
        created = await client.post(
            "/api/v1/schedules",
            json={
                "every": EVERY,
                "crawl": {"url": site, "max_pages": 2, "max_depth": 1},
                "overlap": "allow",
                "name": "e2e every 5 s",
            },
        )
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        schedule = created.json()
        assert schedule["next_run_at"] is not None

        await asyncio.sleep(62)  # a minute of ticks, with both replicas looking
        before_stop = await runs(client, location)
        for name in ("status", "status-2"):
            stack.kill(name)
            del stack.metrics_urls[name]
        down_at = time.time()  # no replica runs from here until start_status below
        await asyncio.sleep(2.5 * EVERY)  # at least two ticks pass with no replica running
        up_at = time.time()
        start_status(stack, "status")
        stack.wait_ready()
        await asyncio.sleep(2 * EVERY)
        after = await runs(client, location)
        stop.set()
        await counting

        # A minute, every tick once: consecutive ticks, no gap, no repeat.
        ticks = [tick_of(r) for r in before_stop]
        assert len(ticks) >= 11, before_stop
        assert all(b - a == timedelta(seconds=EVERY) for a, b in itertools.pairwise(ticks))
        # Every fire's command reached the broker exactly once; nothing else was submitted.
        fired = [j["job_id"] for r in after for j in r["jobs"]]
        assert len(fired) == len(set(fired)) == len(after)
        assert {job: seen[job] for job in fired} == dict.fromkeys(fired, 1)
        assert set(seen) == set(fired)
        # The ticks missed while both replicas were down fired once, late, as one run.
        index = next(i for i, r in enumerate(after) if fired_at(r) > down_at)
        missed, last_before = after[index], tick_of(after[index - 1])
        assert fired_at(missed) >= up_at, missed  # fired by the replica that returned
        assert tick_of(missed).timestamp() < up_at - EVERY, missed  # for ticks that passed
        assert tick_of(missed) == last_before + timedelta(seconds=EVERY)
        assert missed["missed"] >= 1, missed
        later = [tick_of(r) for r in after if tick_of(r) > tick_of(missed)]
        assert later, after
        gap = later[0] - tick_of(missed)
        assert gap == timedelta(seconds=EVERY * (missed["missed"] + 1)), (missed, later)
        # Their jobs ran: the first one has completed.
        latest = await runs(client, location)
        statuses = {j["job_id"]: j["status"] for r in latest for j in r["jobs"]}
        assert statuses[before_stop[0]["jobs"][0]["job_id"]] == "completed"

        paused = await client.post(f"{location}/pause")
        assert paused.status_code == 200
        assert paused.json()["paused"] is True
        assert paused.json()["next_run_at"] is None
        assert (await client.delete(location)).status_code == 204
        assert (await client.get(location)).status_code == 404
        await client.aclose()
