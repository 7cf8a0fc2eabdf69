"""Submitting, reading and listing crawls over the real stack: idempotency, conditional and
long-polling reads, history filters and cursors, results, logs, errors and tenancy."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.api.conftest import IDEMPOTENCY_SECONDS, ApiStack, expected_urls, wait_finished
from tests.sites.serve import SAMPLE_URLS

pytestmark = pytest.mark.e2e


def test_a_repeat_with_the_same_idempotency_key_returns_the_same_job(api: ApiStack) -> None:
    key = str(uuid.uuid4())
    body = {"url": api.site + "conifers/", "max_depth": 0}
    with api.client() as client:
        first = client.post("/api/v1/crawls", json=body, headers={"Idempotency-Key": key})
        again = client.post("/api/v1/crawls", json=body, headers={"Idempotency-Key": key})
        other = client.post(
            "/api/v1/crawls", json={**body, "max_depth": 1}, headers={"Idempotency-Key": key}
        )
        fresh = client.post("/api/v1/crawls", json=body)
        assert first.status_code == again.status_code == 202
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["Location"] == first.headers["Location"]
        assert again.headers["Idempotent-Replayed"] == "true"
        assert other.status_code == 422
        assert other.headers["content-type"].startswith("application/problem+json")
        assert other.json()["type"].endswith("/idempotency-key-reused")
        assert fresh.json()["id"] != first.json()["id"]
        for job_id in (first.json()["id"], fresh.json()["id"]):
            wait_finished(client, job_id)


def test_an_idempotency_key_is_forgotten_after_its_time(api: ApiStack) -> None:
    key = str(uuid.uuid4())
    body = {"url": api.site + "conifers/", "max_depth": 0}
    with api.client() as client:
        first = client.post("/api/v1/crawls", json=body, headers={"Idempotency-Key": key})
        assert first.status_code == 202
        time.sleep(IDEMPOTENCY_SECONDS + 0.5)
        # Expired: the same key now starts a new job, even with another body.
        later = client.post(
            "/api/v1/crawls", json={**body, "max_depth": 1}, headers={"Idempotency-Key": key}
        )
        assert later.status_code == 202
        assert "Idempotent-Replayed" not in later.headers
        assert later.json()["id"] != first.json()["id"]
        again = client.post(
            "/api/v1/crawls", json={**body, "max_depth": 1}, headers={"Idempotency-Key": key}
        )
        assert again.json()["id"] == later.json()["id"]
        for job_id in (first.json()["id"], later.json()["id"]):
            wait_finished(client, job_id)


def test_status_has_an_etag_a_304_and_retry_after_only_while_unfinished(api: ApiStack) -> None:
    with api.client() as client:
        created = client.post("/api/v1/crawls", json={"url": api.slow_site, "max_depth": 0})
        location = created.headers["Location"]
        pending = client.get(location)
        assert pending.status_code == 200
        assert int(pending.headers["Retry-After"]) >= 1
        etag = pending.headers["ETag"]
        unchanged = client.get(location, headers={"If-None-Match": etag})
        if unchanged.status_code == 304:  # nothing changed in between
            assert unchanged.content == b""
            assert unchanged.headers["ETag"] == etag
        job = wait_finished(client, created.json()["id"])
        assert job["status"] == "completed"
        done = client.get(location)
        assert "Retry-After" not in done.headers
        assert done.headers["ETag"] != etag
        assert (
            client.get(location, headers={"If-None-Match": done.headers["ETag"]}).status_code == 304
        )


def test_prefer_wait_holds_the_request_until_the_job_changes(api: ApiStack) -> None:
    with api.client() as client:
        created = client.post("/api/v1/crawls", json={"url": api.slow_site, "max_depth": 0})
        location = created.headers["Location"]
        first = client.get(location)
        seen = first.headers["ETag"]
        started = time.monotonic()
        changed = client.get(location, headers={"Prefer": "wait=20", "If-None-Match": seen})
        waited = time.monotonic() - started
        assert changed.headers["Preference-Applied"] == "wait=20"
        assert changed.status_code == 200, "the job changes within 20 s: it must be answered"
        assert changed.headers["ETag"] != seen
        assert waited < 19
        capped = client.get(location, headers={"Prefer": "wait=999"})
        assert capped.headers["Preference-Applied"] == "wait=30"
        wait_finished(client, created.json()["id"])
        finished = time.monotonic()
        client.get(location, headers={"Prefer": "wait=10"})
        assert time.monotonic() - finished < 5, "a finished job is answered at once"


def test_plain_polls_see_every_change_at_once_though_reads_are_reused(api: ApiStack) -> None:
    """Status reads are served again from memory (30 s in this stack) until a change notice
    for the job arrives: polling without ``Prefer: wait`` still sees each change."""
    with api.client() as client:
        created = client.post("/api/v1/crawls", json={"url": api.slow_site, "max_depth": 0})
        location = created.headers["Location"]
        seen = [client.get(location).json()["status"]]
        deadline = time.monotonic() + 15
        while seen[-1] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
            seen.append(client.get(location).json()["status"])
        assert seen[-1] == "running", seen
        first = client.get(location)
        assert client.get(location).headers["ETag"] == first.headers["ETag"]
        assert client.delete(location).status_code == 202
        deadline = time.monotonic() + 10
        while client.get(location).json()["status"] != "cancelled":
            assert time.monotonic() < deadline, "the cancel never showed on a plain poll"
            time.sleep(0.05)


def test_history_lists_newest_first_with_filters_and_cursor(api: ApiStack) -> None:
    with api.client() as client:
        before = datetime.now(UTC) - timedelta(seconds=1)
        ids = []
        for path in ("conifers/", "broadleaves/", "shrubs/"):
            response = client.post("/api/v1/crawls", json={"url": api.site + path, "max_depth": 0})
            ids.append(response.json()["id"])
        for job_id in ids:
            wait_finished(client, job_id)
        params: dict[str, str | int] = {
            "created_after": before.isoformat(),
            "limit": 2,
            "host": "127.0.0.1",
        }
        first = client.get("/api/v1/crawls", params=params).json()
        assert [j["id"] for j in first["items"]] == ids[::-1][:2]
        second = client.get("/api/v1/crawls", params={**params, "cursor": first["next_cursor"]})
        listed = [j["id"] for j in second.json()["items"]]
        assert listed[0] == ids[0]
        assert (
            client.get(
                "/api/v1/crawls", params={"created_after": before.isoformat(), "status": "failed"}
            ).json()["items"]
            == []
        )
        by_status = client.get(
            "/api/v1/crawls",
            params={"created_after": before.isoformat(), "status": "completed", "limit": 10},
        ).json()["items"]
        assert set(ids) <= {j["id"] for j in by_status}
        other_host = client.get("/api/v1/crawls", params={"host": "example.com"}).json()
        assert other_host["items"] == []
        assert client.get("/api/v1/crawls", params={"cursor": "garbage"}).status_code == 400
        bad_time = client.get("/api/v1/crawls", params={"created_after": "yesterday"})
        assert bad_time.status_code == 400
        assert bad_time.headers["content-type"].startswith("application/problem+json")
    with api.client("other-token") as other:
        assert not set(ids) & {j["id"] for j in other.get("/api/v1/crawls").json()["items"]}


def test_pages_filter_by_outcome_choose_fields_stream_as_jsonl(api: ApiStack) -> None:
    with api.client() as client:
        job_id = client.post("/api/v1/crawls", json={"url": api.site, "max_depth": 3}).json()["id"]
        wait_finished(client, job_id)
        base = f"/api/v1/crawls/{job_id}"
        lean = client.get(f"{base}/pages", params={"fields": "outcome,title", "limit": 1000})
        items = lean.json()["items"]
        assert {p["url"] for p in items} == expected_urls(api.site)
        assert all(set(p) == {"url", "outcome", "title"} for p in items)
        fetched = client.get(f"{base}/pages", params={"outcome": "fetched", "limit": 1000})
        assert len(fetched.json()["items"]) == SAMPLE_URLS
        assert all(p["markdown"] for p in fetched.json()["items"])
        assert client.get(f"{base}/pages", params={"outcome": "skipped"}).json()["items"] == []
        nope = client.get(f"{base}/pages", params={"outcome": "nope"})
        assert nope.status_code == 422
        assert [e["key"] for e in nope.json()["errors"]] == ["outcome"]
        unknown = client.get(f"{base}/pages", params={"fields": "url,secret"})
        assert unknown.status_code == 400
        assert "secret" in unknown.json()["detail"]
        with client.stream("GET", f"{base}/pages.jsonl") as stream:
            assert stream.headers["content-type"].startswith("application/jsonl")
            lines = [json.loads(line) for line in stream.iter_lines() if line]
        assert {p["url"] for p in lines} == expected_urls(api.site)
        assert all(p["markdown"] for p in lines)


def test_logs_are_read_in_order_after_a_sequence_number(api: ApiStack) -> None:
    with api.client() as client:
        job_id = client.post(
            "/api/v1/crawls", json={"url": api.site + "conifers/", "max_depth": 1}
        ).json()["id"]
        wait_finished(client, job_id)
        every = client.get(f"/api/v1/crawls/{job_id}/logs").json()["items"]
        assert len(every) >= 2
        seqs = [line["seq"] for line in every]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        rest = client.get(f"/api/v1/crawls/{job_id}/logs", params={"after": seqs[0]}).json()
        assert [line["seq"] for line in rest["items"]] == seqs[1:]
        page = client.get(f"/api/v1/crawls/{job_id}/logs", params={"limit": 1}).json()
        assert page["next_after"] == seqs[0]


def test_errors_are_problem_details_naming_the_field_and_bodies_are_bounded(
    api: ApiStack,
) -> None:
    with api.client() as client:
        bad = client.post("/api/v1/crawls", json={"url": "ftp://x", "max_depth": -1})
        assert bad.status_code == 422
        assert {e["key"] for e in bad.json()["errors"]} == {"url", "max_depth"}
        webhook = client.post(
            "/api/v1/crawls", json={"url": api.site, "webhook": {"url": "x", "events": ["no"]}}
        )
        assert webhook.status_code == 422
        huge = client.post("/api/v1/crawls", json={"url": api.site, "pad": "x" * 10_000})
        assert huge.status_code == 413
        assert huge.headers["content-type"].startswith("application/problem+json")
        for path in ("/api/v1/crawls/x/pages?limit=0", "/api/v1/crawls?limit=100000"):
            response = client.get(path)
            assert response.status_code in (404, 422)
            assert response.headers["content-type"].startswith("application/problem+json")
        odd = client.get("/api/v1/crawls/x/events", headers={"Last-Event-ID": "zzz"})
        assert odd.status_code in (400, 404)


def test_another_tenants_job_is_not_found(api: ApiStack) -> None:
    with api.client() as client:
        job_id = client.post(
            "/api/v1/crawls", json={"url": api.site + "conifers/", "max_depth": 0}
        ).json()["id"]
        wait_finished(client, job_id)
    with api.client("other-token") as other:
        for suffix in ("", "/pages", "/pages.jsonl", "/logs", "/events", "/webhooks"):
            response = other.get(f"/api/v1/crawls/{job_id}{suffix}")
            assert response.status_code == 404, suffix
            assert response.json()["type"].endswith("/not-found")
