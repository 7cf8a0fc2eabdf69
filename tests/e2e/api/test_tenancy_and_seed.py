"""Who may call what: static keys and JWTs, the e-mail domain policy, rate limits and the
per-tenant cap; the original assistant routes; and jobs published straight to the broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from faststream.rabbit import RabbitBroker

from crawl_contracts import CrawlRequest, CrawlRequested, routing
from crawl_stack import Services
from tests.e2e.api.conftest import (
    AUDIENCE,
    HS_SECRET,
    ISSUER,
    MAX_RUNNING,
    RATE_BURST,
    ApiStack,
    wait_finished,
)

pytestmark = pytest.mark.e2e


def token(key: str | bytes = HS_SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    claims = {
        "sub": "jwt-user",
        "tenant": "e2e",
        "email": "jwt-user@example.com",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(time.time()) + 300,
        **overrides,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm)


def test_jwts_are_checked_for_signature_issuer_audience_expiry_and_domain(api: ApiStack) -> None:
    cases = {
        token(): 200,
        token(api.rsa_private_pem, "RS256"): 200,
        token(aud="someone-else"): 401,
        token(iss="https://evil.test"): 401,
        token(exp=int(time.time()) - 3600): 401,
        token(key="another-secret-of-sufficient-length"): 401,
        token(tenant=None): 401,
        token(email="jwt-user@elsewhere.test"): 403,
        jwt.encode({"sub": "x", "tenant": "e2e"}, "", algorithm="none"): 401,
        "not-a-token": 401,
    }
    for bearer, expected in cases.items():
        with api.client(bearer) as client:
            response = client.get("/api/v1/crawls")
            assert response.status_code == expected, (bearer, response.text)
            if expected != 200:
                assert response.headers["content-type"].startswith("application/problem+json")
    with api.client("outsider-token") as outsider:
        forbidden = outsider.get("/api/v1/crawls")
        assert forbidden.status_code == 403
        assert forbidden.json()["type"].endswith("/forbidden")


def test_a_jwt_principal_sees_its_tenants_jobs(api: ApiStack) -> None:
    with api.client() as client:
        job_id = client.post(
            "/api/v1/crawls", json={"url": api.site + "conifers/", "max_depth": 0}
        ).json()["id"]
        wait_finished(client, job_id)
    with api.client(token()) as same_tenant:
        assert same_tenant.get(f"/api/v1/crawls/{job_id}").status_code == 200
    with api.client(token(tenant="other")) as other_tenant:
        assert other_tenant.get(f"/api/v1/crawls/{job_id}").status_code == 404


async def test_a_principal_over_its_rate_is_answered_429_with_retry_after(api: ApiStack) -> None:
    headers = {"Authorization": "Bearer burst-token"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as client:
        answers = await asyncio.gather(
            *(client.get("/api/v1/crawls", params={"limit": 1}) for _ in range(RATE_BURST * 3))
        )
    limited = [a for a in answers if a.status_code == 429]
    assert limited, "the burst is bounded"
    assert all(a.status_code in (200, 429) for a in answers)
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].json()["type"].endswith("/too-many-requests")
    with api.client() as unaffected:
        assert unaffected.get("/api/v1/crawls", params={"limit": 1}).status_code == 200


def test_a_tenant_over_its_cap_of_running_jobs_is_answered_429(api: ApiStack) -> None:
    with api.client("capped-token") as client:
        ids = [
            client.post("/api/v1/crawls", json={"url": api.slow_site, "max_depth": 0}).json()["id"]
            for _ in range(MAX_RUNNING)
        ]
        over = client.post("/api/v1/crawls", json={"url": api.slow_site, "max_depth": 0})
        assert over.status_code == 429
        assert int(over.headers["Retry-After"]) >= 1
        assert over.json()["type"].endswith("/too-many-requests")
        for job_id in ids:
            wait_finished(client, job_id)
        again = client.post("/api/v1/crawls", json={"url": api.site + "conifers/", "max_depth": 0})
        assert again.status_code == 202
        wait_finished(client, again.json()["id"])


def test_the_assistant_routes_start_list_show_and_cancel_runs_with_their_status_names(
    api: ApiStack,
) -> None:
    base = "/api/assistants/assistant-1/webcrawl"
    with api.client() as client:
        started = client.post(f"{base}/start", json={"bypassRobotsTxtCheckDomains": ["127.0.0.1"]})
        assert started.status_code == 202
        run_id = started.json()
        assert started.headers["Location"] == f"{base}/history/{run_id}"
        run = client.get(f"{base}/history/{run_id}").json()
        assert run["status"] in ("Pending", "Processing", "Completed")
        assert [u["url"] for u in run["urls"]] == [
            api.site + "conifers/",
            api.site + "broadleaves/",
        ]
        for url_run in run["urls"]:
            job = wait_finished(client, url_run["jobId"])
            assert job["request"]["bypass_robots_domains"] == ["127.0.0.1"]
            assert job["request"]["render"] == "never"  # the assistant's own setting
        done = client.get(f"{base}/history/{run_id}").json()
        assert done["status"] == "Completed"
        assert done["completedAtUtc"]
        assert all(u["pagesFetched"] >= 1 for u in done["urls"])
        history = client.get(f"{base}/history").json()
        assert history[0]["id"] == run_id
        assert client.post(f"{base}/history/{run_id}/cancel").status_code == 409

        slow = "/api/assistants/assistant-slow/webcrawl"
        slow_run = client.post(f"{slow}/start", json={}).json()
        cancelled = client.post(f"{slow}/history/{slow_run}/cancel")
        assert cancelled.status_code == 202
        (url_run,) = cancelled.json()["urls"]
        slow_job = wait_finished(client, url_run["jobId"])
        assert slow_job["status"] == "cancelled"
        assert slow_job["request"]["render"] == "auto"  # the default
        assert client.get(f"{slow}/history/{slow_run}").json()["status"] == "Cancelled"

        bad = client.post(f"{base}/start", json={"bypassRobotsTxtCheckDomains": "x"})
        assert bad.status_code == 422
        assert client.get("/api/assistants/nobody/webcrawl/history").status_code == 404
    with api.client("other-token") as other:
        assert other.get(f"{base}/history").status_code == 404
        assert other.get(f"{base}/history/{run_id}").status_code == 404


async def test_a_job_published_straight_to_the_broker_reads_like_a_rest_one(
    api: ApiStack, services: Services
) -> None:
    request = CrawlRequest(url=api.site + "conifers/", max_depth=1)
    command = CrawlRequested(job_id=str(uuid.uuid4()), tenant="e2e", request=request)
    broker = RabbitBroker(services.rabbitmq_url, logger=None)
    await broker.connect()
    try:
        # As another service publishes a command: the contract's body and routing key, and
        # none of our own headers (the status service puts it under its job's partition).
        await broker.publish(
            command.model_dump_json().encode(),
            exchange=routing.EXCHANGE,
            routing_key=routing.routing_key(command.type),
            persist=True,
            content_type="application/json",
        )
    finally:
        await broker.stop()
    with api.client() as client:
        via_rest = client.post("/api/v1/crawls", json=request.model_dump(mode="json")).json()["id"]
        rest_job = wait_finished(client, via_rest)
        broker_job = wait_finished(client, command.job_id)
        assert broker_job.keys() == rest_job.keys()
        assert broker_job["status"] == rest_job["status"] == "completed"
        assert broker_job["request"] == rest_job["request"]
        assert broker_job["counters"] == rest_job["counters"]
        assert broker_job["created_at"]

        def urls(job_id: str) -> set[str]:
            items = client.get(f"/api/v1/crawls/{job_id}/pages", params={"limit": 1000}).json()
            return {p["url"] for p in items["items"]}

        assert urls(command.job_id) == urls(via_rest)
        listed = {
            j["id"] for j in client.get("/api/v1/crawls", params={"limit": 50}).json()["items"]
        }
        assert {command.job_id, via_rest} <= listed
