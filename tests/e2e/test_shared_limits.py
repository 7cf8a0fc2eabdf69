"""Two API processes on one broker and database hold one principal's rate limit and one
tenant's cap of unfinished jobs together, as one process would (``crawl_api.usage``)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from crawl_stack import TOKEN, Services, Stack, free_port, running_stack
from tests.sites.slow import slow_site

pytestmark = pytest.mark.e2e

RATE, BURST, SECONDS = 20, 10, 8.0
CAP = 3
CAPPED = "capped-token"


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    tokens = {
        TOKEN: {"user": "e2e", "tenant": "e2e"},
        CAPPED: {"user": "c", "tenant": "capped"},
    }
    env = {
        "CRAWL_API_TOKENS": json.dumps(tokens),
        "CRAWL_API_RATE_LIMIT_PER_SECOND": str(RATE),
        "CRAWL_API_RATE_LIMIT_BURST": str(BURST),
        "CRAWL_API_MAX_RUNNING_JOBS_PER_TENANT": str(CAP),
    }
    with running_stack(services, extra_env=env) as running:
        port = free_port()
        running.start("api-2", "crawl_api", CRAWL_API_PORT=str(port))
        running.env["API_2_URL"] = second = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{second}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        running.wait_ready()
        yield running


async def test_the_rate_limit_holds_across_two_api_processes(stack: Stack) -> None:
    urls = itertools.cycle([stack.api_url, stack.env["API_2_URL"]])
    answers: Counter[tuple[str, int]] = Counter()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        started = time.monotonic()

        async def hammer() -> None:
            while time.monotonic() - started < SECONDS:
                base = next(urls)
                answer = await client.get(f"{base}/api/v1/crawls", params={"limit": 1})
                answers[base, answer.status_code] += 1

        await asyncio.gather(*(hammer() for _ in range(8)))
        elapsed = time.monotonic() - started
    admitted = sum(n for (_, status), n in answers.items() if status == 200)
    refused = sum(n for (_, status), n in answers.items() if status == 429)
    allowed = RATE * elapsed + BURST
    assert refused > admitted, answers  # the callers asked for far more than the limit
    assert {base for (base, status) in answers if status == 200} == {
        stack.api_url,
        stack.env["API_2_URL"],
    }, answers  # both processes admitted some
    assert abs(admitted - allowed) <= 0.1 * allowed, (admitted, allowed, answers)


def test_the_tenant_cap_holds_across_two_api_processes(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {CAPPED}"}
    with slow_site(pages=50, delay=2.0) as site, httpx.Client(headers=headers, timeout=10) as c:
        bases = itertools.cycle([stack.api_url, stack.env["API_2_URL"]])
        answers = []
        for _ in range(8):
            answer = c.post(f"{next(bases)}/api/v1/crawls", json={"url": site, "max_depth": 3})
            answers.append(answer.status_code)
            time.sleep(0.3)  # longer than a usage share's interval
        assert answers.count(202) == CAP, answers
        assert answers.count(429) == len(answers) - CAP, answers
        jobs = c.get(f"{stack.api_url}/api/v1/crawls").json()["items"]
        for job in jobs:
            c.delete(f"{stack.api_url}/api/v1/crawls/{job['id']}")
