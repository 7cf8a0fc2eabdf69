"""One stack for the API surface tests, configured with everything they exercise: several
tenants and tokens, JWT keys, an e-mail domain policy, assistants, small limits, webhook
secrets and a loopback webhook allow-list."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import crawl_stack
from crawl_stack import Services, Stack, running_stack
from tests.sites.serve import SAMPLE, sample_urls, serving

HS_SECRET = "hs-secret-for-tests-0123456789abcdef"
ISSUER = "https://issuer.test"
AUDIENCE = "crawl-api"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"webhook-secret-of-tenant-e2e!!").decode()
MAX_RUNNING = 4
SSE_SETTLE = 2.0  # seconds an SSE item waits to be sent (CRAWL_API_SSE_SETTLE_SECONDS)
RATE_BURST = 40
IDEMPOTENCY_SECONDS = 5  # how long the stack remembers an Idempotency-Key
TOKENS = {
    "e2e-token": {"user": "e2e", "tenant": "e2e", "email": "e2e@example.com"},
    "other-token": {"user": "other", "tenant": "other", "email": "other@example.com"},
    "outsider-token": {"user": "x", "tenant": "e2e", "email": "x@elsewhere.test"},
    "burst-token": {"user": "burst", "tenant": "burst", "email": "burst@example.com"},
    "capped-token": {"user": "capped", "tenant": "capped", "email": "capped@example.com"},
}


@dataclass
class ApiStack:
    stack: Stack
    site: str  # the sample site
    slow_site: str  # answers after a delay: jobs on it stay running for a while
    rsa_private_pem: bytes

    @property
    def url(self) -> str:
        return self.stack.api_url

    def client(self, token: str = "e2e-token", **headers: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}", **headers},
            timeout=40,
        )


class _SlowHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(4 if self.path != "/robots.txt" else 0)
        body = b"<html><head><title>slow</title></head><body><p>slow page</p></body></html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving_slow() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="package")  # torn down before other packages' consumers start
def api(services: Services) -> Iterator[ApiStack]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with serving(SAMPLE) as site, serving_slow() as slow:
        env = {
            "CRAWL_API_TOKENS": json.dumps(TOKENS),
            "CRAWL_API_ALLOWED_EMAIL_DOMAINS": json.dumps(["example.com"]),
            "CRAWL_API_JWT__HS256_SECRET": HS_SECRET,
            "CRAWL_API_JWT__RS256_PUBLIC_KEY": public_pem.decode(),
            "CRAWL_API_JWT__ISSUER": ISSUER,
            "CRAWL_API_JWT__AUDIENCE": AUDIENCE,
            "CRAWL_API_ASSISTANTS": json.dumps(
                {
                    "assistant-1": {
                        "tenant": "e2e",
                        "urls": [site + "conifers/", site + "broadleaves/"],
                        "max_depth": 1,
                        "render": "never",
                    },
                    "assistant-slow": {"tenant": "e2e", "urls": [slow], "max_depth": 0},
                }
            ),
            "CRAWL_API_MAX_RUNNING_JOBS_PER_TENANT": str(MAX_RUNNING),
            "CRAWL_API_RATE_LIMIT_PER_SECOND": "20",
            "CRAWL_API_RATE_LIMIT_BURST": str(RATE_BURST),
            "CRAWL_API_MAX_BODY_BYTES": "4096",
            "CRAWL_API_SSE_SETTLE_SECONDS": str(SSE_SETTLE),
            # Long polls here are woken by the status service's change notices alone (their
            # fallback read comes after 30 s): a long-poll test fails if notices stop.
            "CRAWL_API_CHANGES_POLL_INTERVAL": "30",
            # Likewise status reads are served from the recently-read documents for up to
            # 30 s: a read test fails if a change notice does not drop a changed document.
            "CRAWL_API_STATUS_CACHE_SECONDS": "30",
            "CRAWL_API_IDEMPOTENCY_KEY_SECONDS": str(IDEMPOTENCY_SECONDS),
            "CRAWL_STATUS_WEBHOOK_SECRETS": json.dumps({"e2e": WEBHOOK_SECRET}),
            "CRAWL_STATUS_WEBHOOK_ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8"]),
            "CRAWL_STATUS_WEBHOOK_BACKOFF_BASE": "0.3",
            "CRAWL_STATUS_WEBHOOK_MAX_ATTEMPTS": "3",
            "CRAWL_WORKER_MAX_JOBS": "8",
        }
        with running_stack(services, extra_env=env) as stack:
            yield ApiStack(stack, site, slow, private_pem)


def wait_finished(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """Long-poll (Prefer: wait) until the job is finished."""
    return crawl_stack.wait_finished(client, f"/api/v1/crawls/{job_id}", timeout)


def expected_urls(base: str) -> set[str]:
    return sample_urls(base)
