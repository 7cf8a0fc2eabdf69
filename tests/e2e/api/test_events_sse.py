"""Live events over Server-Sent Events: a client that drops the connection every few events
and resumes with Last-Event-ID still receives every event exactly once."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.api.conftest import SSE_SETTLE as SETTLE
from tests.e2e.api.conftest import ApiStack, expected_urls, wait_finished

pytestmark = pytest.mark.e2e


@dataclass
class Event:
    id: str
    event: str
    data: dict[str, Any]


def read_events(
    client: httpx.Client, path: str, last_event_id: str | None, at_most: int | None
) -> tuple[list[Event], int]:
    """Read up to ``at_most`` events, then drop the connection."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[Event] = []
    with client.stream("GET", path, headers=headers) as response:
        if response.status_code != 200:
            return events, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line == "":
                if "data" in fields:
                    events.append(Event(fields["id"], fields["event"], json.loads(fields["data"])))
                    if at_most is not None and len(events) >= at_most:
                        break
                fields = {}
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
    return events, 200


def order_of(event: Event) -> int:
    return int(event.id.rpartition("-")[0])


def test_a_reconnecting_client_receives_every_event_exactly_once(api: ApiStack) -> None:
    with api.client() as client:
        job_id = client.post("/api/v1/crawls", json={"url": api.site, "max_depth": 3}).json()["id"]
        path = f"/api/v1/crawls/{job_id}/events"
        received: list[Event] = []
        last: str | None = None
        connections = 0
        while True:
            events, status = read_events(client, path, last, at_most=5)
            connections += 1
            if status == 204:
                break
            assert status == 200
            received += events
            if events:
                last = events[-1].id
            assert connections < 500, "the stream never ended"
        assert connections > 5, "the client really reconnected"

        final = received[-1]
        assert final.event == "status"
        assert final.data["status"] == "completed"
        assert [e for e in received if e.data.get("status") == "completed"] == [final]

        pages = [e.data["url"] for e in received if e.event == "page"]
        assert sorted(pages) == sorted(expected_urls(api.site)), "every page exactly once"
        logs = [e.data["seq"] for e in received if e.event == "log"]
        stored = [
            line["seq"] for line in client.get(f"/api/v1/crawls/{job_id}/logs").json()["items"]
        ]
        assert logs == stored, "every log line exactly once, in order"
        orders = [order_of(e) for e in received if e.event in ("page", "log", "progress")]
        assert orders == sorted(orders)
        assert len(set(orders)) == len(orders)
        statuses = [e.data["status"] for e in received if e.event == "status"]
        assert len(statuses) == len(set(statuses)), "each status change once"

        # A client that stays connected from the start gets the same pages and logs.
        whole, status = read_events(client, path, None, at_most=None)
        assert status == 200
        assert sorted(e.data["url"] for e in whole if e.event == "page") == sorted(pages)
        assert [e.data["seq"] for e in whole if e.event == "log"] == logs
        # And a reconnect after the terminal event is told there is nothing more.
        assert read_events(client, path, whole[-1].id, at_most=None)[1] == 204
        wait_finished(client, job_id)


def test_a_live_stream_shows_progress_and_ends_after_the_terminal_event(api: ApiStack) -> None:
    with api.client() as client:
        job_id = client.post("/api/v1/crawls", json={"url": api.slow_site, "max_depth": 0}).json()[
            "id"
        ]
        events, status = read_events(client, f"/api/v1/crawls/{job_id}/events", None, None)
        assert status == 200
        kinds = [e.event for e in events]
        assert kinds[0] == "status"
        assert events[0].data["status"] in ("pending", "running")
        assert "page" in kinds
        assert events[-1].data["status"] == "completed"
        assert events[-1].data["counters"]["fetched"] == 1


def test_the_stream_of_a_job_finished_a_while_ago_goes_out_at_once(api: ApiStack) -> None:
    with api.client() as client:
        job_id = client.post("/api/v1/crawls", json={"url": api.site, "max_depth": 1}).json()["id"]
        wait_finished(client, job_id)
        time.sleep(SETTLE + 0.2)  # longer ago than the settle window: nothing more can come
        started = time.monotonic()
        events, status = read_events(client, f"/api/v1/crawls/{job_id}/events", None, None)
        took = time.monotonic() - started
        assert status == 200
        assert events[-1].data["status"] == "completed"
        pages = [e.data["url"] for e in events if e.event == "page"]
        assert len(pages) == len(set(pages)) == events[-1].data["counters"]["discovered"]
        assert took < SETTLE, f"the whole stream took {took:.2f} s"
