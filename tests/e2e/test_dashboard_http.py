"""The dashboard over HTTP against the real stack: sign-in, tenant scope, cancel guards."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from crawl_stack import LOGS, TOKEN, Services, Stack, running_stack
from tests.sites.serve import SAMPLE, serving

pytestmark = pytest.mark.e2e

OTHER = "other-tenant-token"


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    tokens = {TOKEN: {"user": "e2e", "tenant": "e2e"}, OTHER: {"user": "o", "tenant": "other"}}
    with running_stack(services, extra_env={"CRAWL_API_TOKENS": json.dumps(tokens)}) as running:
        yield running


@contextmanager
def signed_in(stack: Stack, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=10) as client:
        yield _sign_in(client, token)


def _sign_in(client: httpx.Client, token: str) -> httpx.Client:
    response = client.post("/dashboard/login", data={"token": token, "next": "/dashboard"})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/dashboard" in cookie
    return client


@pytest.fixture(scope="module")
def finished_job(stack: Stack) -> str:
    with (
        serving(SAMPLE) as site,
        httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as api,
    ):
        location = api.post("/api/v1/crawls", json={"url": site + "care/", "max_depth": 1}).headers[
            "Location"
        ]
        for _ in range(600):
            if api.get(location).json()["status"] == "completed":
                return location.rsplit("/", 1)[1]
            time.sleep(0.1)
    raise AssertionError("the crawl did not complete")


def test_pages_redirect_to_sign_in_and_a_bad_token_is_refused(stack: Stack) -> None:
    with httpx.Client(base_url=stack.api_url, timeout=10) as anonymous:
        runs = anonymous.get("/dashboard")
        assert runs.status_code in (302, 303, 307)
        assert runs.headers["location"] == "/dashboard/login?next=/dashboard"
        assert anonymous.get("/dashboard/fragments/runs").status_code == 401
        bad = anonymous.post("/dashboard/login", data={"token": "nope"})
        assert bad.status_code == 401
        assert "not valid" in bad.text
        evil = anonymous.post(
            "/dashboard/login", data={"token": TOKEN, "next": "https://evil.example/"}
        )
        assert evil.headers["location"] == "/dashboard"


def test_a_signed_in_operator_sees_their_runs_pages_and_text(
    stack: Stack, finished_job: str
) -> None:
    with signed_in(stack, TOKEN) as client:
        runs = client.get("/dashboard", params={"status": "completed", "host": "127.0.0.1"})
        assert finished_job in runs.text
        assert finished_job not in client.get("/dashboard", params={"host": "example.com"}).text
        run = client.get(f"/dashboard/runs/{finished_job}")
        assert run.status_code == 200
        assert "Completed" in run.text
        assert 'data-terminal="true"' in run.text
        link = run.text.split(f'href="/dashboard/runs/{finished_job}/pages/', 1)[1].split('"')[0]
        text = client.get(f"/dashboard/runs/{finished_job}/pages/{link}")
        assert text.status_code == 200
        assert "Field Guide to Trees" in text.text
        skipped = client.get(
            f"/dashboard/fragments/runs/{finished_job}", params={"outcome": "skipped"}
        )
        assert "depth_limit" in skipped.text
        assert ">fetched<" not in skipped.text
        overview = client.get("/dashboard/overview")
        for dead in (  # every work queue's dead letters
            "crawler.requests.dead",
            "status.messages.dead",
            "renderer.requests.dead",
            "crawler.extract.dead",
        ):
            assert dead in overview.text
        assert "Jobs by state" in overview.text


def test_another_tenants_run_is_not_found_and_cannot_be_cancelled(
    stack: Stack, finished_job: str
) -> None:
    with signed_in(stack, OTHER) as client:
        assert finished_job not in client.get("/dashboard").text
        assert client.get(f"/dashboard/runs/{finished_job}").status_code == 404
        assert client.get(f"/dashboard/fragments/runs/{finished_job}").status_code == 404
        cancel = client.post(
            f"/dashboard/runs/{finished_job}/cancel", headers={"X-Requested-With": "dashboard"}
        )
        assert cancel.status_code == 404


def test_cancel_needs_the_dashboards_header_and_a_running_crawl(
    stack: Stack, finished_job: str
) -> None:
    with signed_in(stack, TOKEN) as client:
        forged = client.post(f"/dashboard/runs/{finished_job}/cancel")
        assert forged.status_code == 400
        done = client.post(
            f"/dashboard/runs/{finished_job}/cancel", headers={"X-Requested-With": "dashboard"}
        )
        assert done.status_code == 409
        assert done.headers["content-type"].startswith("application/problem+json")


def test_the_new_crawl_form_rejects_a_bad_url_with_a_message(stack: Stack) -> None:
    with signed_in(stack, TOKEN) as client:
        bad = client.post("/dashboard/runs", data={"url": "ftp://x", "max_pages": "5"})
        assert bad.status_code == 422
        assert "must be an absolute http:// or https:// URL" in bad.text
        with httpx.Client(base_url=stack.api_url, timeout=10) as anonymous:
            refused = anonymous.post("/dashboard/runs", data={"url": "http://e.com/"})
            assert refused.status_code in (302, 303, 307)
            assert refused.headers["location"].startswith("/dashboard/login")


def test_the_schedules_page_shows_the_tenants_schedules_and_their_runs(stack: Stack) -> None:
    with (
        serving(SAMPLE) as site,
        httpx.Client(base_url=stack.api_url, headers=stack.headers, timeout=10) as api,
    ):
        made = api.post(
            "/api/v1/schedules",
            json={"every": 5, "crawl": {"url": site, "max_pages": 2}, "name": "<b>nightly</b>"},
        )
        assert made.status_code == 201, made.text
        location = made.headers["location"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not api.get(f"{location}/runs").json()["items"]:
            time.sleep(0.5)
        (run,) = api.get(f"{location}/runs", params={"limit": 1}).json()["items"]
        api.post(f"{location}/pause")
        with signed_in(stack, TOKEN) as client:
            page = client.get("/dashboard/schedules")
            assert page.status_code == 200
            assert "every 5s" in page.text
            assert "&lt;b&gt;nightly&lt;/b&gt;" in page.text  # escaped, never markup
            assert site in page.text
            assert f'href="/dashboard/runs/{run["jobs"][0]["job_id"]}"' in page.text
            fragment = client.get("/dashboard/fragments/schedules")
            assert made.json()["id"] in fragment.text
        with signed_in(stack, OTHER) as other:
            assert made.json()["id"] not in other.get("/dashboard/schedules").text
        assert api.delete(location).status_code == 204


def test_tokens_never_reach_the_logs(stack: Stack) -> None:
    with signed_in(stack, OTHER) as client:
        assert client.get("/dashboard/overview").status_code == 200
    for name in ("api", "status", "crawler-0"):
        assert OTHER not in (LOGS / f"{name}.log").read_text(errors="replace"), name
