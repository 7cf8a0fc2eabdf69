"""The API answers as its OpenAPI document says: Schemathesis (every check, every phase) over
``/schema/openapi.json`` of a real stack.

The run is bounded (30 examples per operation, 2 workers, a fixed seed: the same cases on
every run, about a minute here) and fails on any failure but those
``contract_exclusions.py`` accepts, each a behaviour JSON Schema cannot state (listed in the
README's API section). To reproduce one, run the command the failure message shows.

The stack is its own (vhost and database), so the jobs Schemathesis submits neither count
against the other tests' tenants nor reach their consumers; its crawlers may fetch nothing
(no allowed networks), so those jobs end at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawl_stack import Stack, private_services, running_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "contract-token"
MAX_EXAMPLES = 30
SEED = 1
HOOKS = "tests.e2e.api.contract_exclusions"


@pytest.fixture(scope="module")
def contract_stack(service_urls: tuple[str, str, str]) -> Iterator[Stack]:
    env = {
        "CRAWL_API_TOKENS": json.dumps(
            {TOKEN: {"user": "contract", "tenant": "contract", "email": "c@example.com"}}
        ),
        # Schemathesis' own pace, not the caller's rate limit or the tenant's cap, is tested.
        "CRAWL_API_RATE_LIMIT_PER_SECOND": "10000",
        "CRAWL_API_RATE_LIMIT_BURST": "10000",
        "CRAWL_API_MAX_RUNNING_JOBS_PER_TENANT": "0",
        "CRAWL_API_MAX_WAIT_SECONDS": "1",  # a generated `Prefer: wait=30` holds 1 s
        "CRAWL_API_ASSISTANTS": json.dumps(
            {"assistant-1": {"tenant": "contract", "urls": ["http://192.0.2.1/"]}}
        ),
        "CRAWL_WORKER_ALLOWED_NETWORKS": "[]",
    }
    with (
        private_services(*service_urls, prefix="contract") as services,
        running_stack(services, extra_env=env) as stack,
    ):
        yield stack


def test_every_answer_keeps_the_openapi_contract(contract_stack: Stack, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--no-color",
        "run",
        f"{contract_stack.api_url}/schema/openapi.json",
        "--checks=all",
        f"--max-examples={MAX_EXAMPLES}",
        "--workers=2",
        f"--seed={SEED}",
        "--request-timeout=3",  # an event stream of an unfinished job is read this long
        "--generation-database=none",
        f"--header=Authorization: Bearer {TOKEN}",
    ]
    run = subprocess.run(
        command,
        env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,  # Schemathesis keeps a cache (.schemathesis/) where it runs
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, f"{run.stdout[-20_000:]}\n{run.stderr[-5_000:]}"
