"""The schedule routes: what they accept and refuse, tenancy, pause and resume, listing, and
an assistant's schedule on the seed routes making runs in the assistant's history."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.e2e.api.conftest import ApiStack, wait_finished

BASE = "/api/v1/schedules"


def create(client: httpx.Client, **body: Any) -> httpx.Response:
    return client.post(BASE, json=body)


def test_schedules_are_validated_with_problem_details_naming_the_field(api: ApiStack) -> None:
    crawl = {"url": api.site}
    with api.client() as client:
        for body, field in (
            ({"crawl": crawl}, "every"),
            ({"every": 5, "cron": "* * * * *", "crawl": crawl}, "every"),
            ({"every": 4, "crawl": crawl}, "every"),
            ({"cron": "61 * * * *", "crawl": crawl}, "cron"),
            ({"cron": "0 9 * * *", "timezone": "Mars/Base", "crawl": crawl}, "time zone"),
            ({"every": 60, "crawl": {**crawl, "since": "x"}}, "since"),
            ({"every": 60, "crawl": {"url": "ftp://example.com/"}}, "url"),
        ):
            answer = create(client, **body)
            assert answer.status_code in (400, 422), (body, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert field in answer.text, (body, answer.text)


def test_a_schedule_is_created_listed_paused_resumed_and_deleted_by_its_tenant_only(
    api: ApiStack,
) -> None:
    with api.client() as client, api.client("other-token") as other:
        made = create(
            client,
            cron="30 4 * * 1",
            timezone="Europe/Paris",
            crawl={"url": api.site, "max_pages": 3},
            since="previous",
            name="weekly",
        )
        assert made.status_code == 201, made.text
        schedule = made.json()
        location = made.headers["location"]
        assert location == f"{BASE}/{schedule['id']}"
        assert schedule["since"] == "previous"
        assert schedule["urls"] == [api.site]
        next_run = schedule["next_run_at"]
        assert next_run.endswith(("T03:30:00Z", "T02:30:00Z"))  # 04:30 in Paris, as UTC

        others = [create(client, every=3600, crawl={"url": api.site}) for _ in range(2)]
        ids = [schedule["id"], *(o.json()["id"] for o in others)]
        first = client.get(BASE, params={"limit": 2}).json()
        second = client.get(BASE, params={"limit": 2, "cursor": first["next_cursor"]}).json()
        listed = [s["id"] for s in first["items"] + second["items"]]
        assert listed[:3] == list(reversed(ids))  # newest first, across pages

        assert other.get(location).status_code == 404
        assert other.post(f"{location}/pause").status_code == 404
        assert other.delete(location).status_code == 404
        assert schedule["id"] not in {s["id"] for s in other.get(BASE).json()["items"]}

        paused = client.post(f"{location}/pause").json()
        assert paused["paused"] is True
        assert paused["next_run_at"] is None
        resumed = client.post(f"{location}/resume").json()
        assert resumed["paused"] is False
        assert resumed["next_run_at"] == next_run
        assert client.get(f"{location}/runs").json() == {"items": [], "next_cursor": None}
        for schedule_id in ids:
            assert client.delete(f"{BASE}/{schedule_id}").status_code == 204
        assert client.get(location).status_code == 404
        assert client.delete(location).status_code == 404


def test_an_assistants_schedule_makes_runs_in_its_history(api: ApiStack) -> None:
    base = "/api/assistants/assistant-1/webcrawl"
    with api.client() as client:
        made = client.post(
            f"{base}/schedules",
            json={"everySeconds": 5, "bypassRobotsTxtCheckDomains": ["127.0.0.1"]},
        )
        assert made.status_code == 201, made.text
        schedule = made.json()
        assert schedule["assistant_id"] == "assistant-1"
        assert schedule["urls"] == [api.site + "conifers/", api.site + "broadleaves/"]
        assert schedule["since"] == "previous"
        listed = client.get(f"{base}/schedules").json()
        assert schedule["id"] in [s["id"] for s in listed]
        location = made.headers["location"]
        deadline = time.monotonic() + 30
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not runs:
            runs = client.get(f"{location}/runs").json()["items"]
            time.sleep(0.5)
        assert runs, "the schedule did not fire within 30 s"
        client.post(f"{location}/pause")
        run = runs[-1]
        assert run["run_id"]
        history = client.get(f"{base}/history/{run['run_id']}")
        assert history.status_code == 200, history.text
        assert [u["jobId"] for u in history.json()["urls"]] == [j["job_id"] for j in run["jobs"]]
        for job in run["jobs"]:
            done = wait_finished(client, job["job_id"])
            assert done["request"]["bypass_robots_domains"] == ["127.0.0.1"]
        assert client.get(f"{base}/history/{run['run_id']}").json()["status"] == "Completed"
        assert client.delete(location).status_code == 204
        assert client.post(f"{base}/schedules", json={"everySeconds": 1}).status_code == 422
    with api.client("other-token") as other:
        assert other.get(f"{base}/schedules").status_code == 404
