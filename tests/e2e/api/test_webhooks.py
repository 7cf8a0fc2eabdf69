"""Webhooks: signed per Standard Webhooks, retried after a failure, every attempt visible;
URLs outside the operator's allow-list are refused like crawled URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.api.conftest import WEBHOOK_SECRET, ApiStack, wait_finished

pytestmark = pytest.mark.e2e


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    fail_first: int = 1


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                answer = 500 if receiver.fail_first > 0 else 204
                receiver.fail_first -= 1
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append((headers, body, answer))
            self.send_response(answer)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def verify(headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification, written independently of the service's signer."""
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.partition(",")[2] for s in headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, s) for s in offered)


def deliveries(client: Any, job_id: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items: list[dict[str, Any]] = client.get(f"/api/v1/crawls/{job_id}/webhooks").json()[
            "items"
        ]
        if len(items) >= count and all(i["state"] != "pending" for i in items):
            return items
        time.sleep(0.2)
    raise AssertionError(f"{count} settled deliveries not seen within {timeout} s")


def test_signed_deliveries_are_retried_after_a_500_and_every_attempt_is_listed(
    api: ApiStack,
) -> None:
    with receiving() as receiver, api.client() as client:
        webhook = {"url": receiver.url, "events": ["started", "page", "completed"]}
        job_id = client.post(
            "/api/v1/crawls",
            json={"url": api.site + "conifers/", "max_depth": 0, "webhook": webhook},
        ).json()["id"]
        wait_finished(client, job_id)
        pages = client.get(f"/api/v1/crawls/{job_id}/pages", params={"fields": "url"}).json()
        expected = ["started"] + ["page"] * len(pages["items"]) + ["completed"]
        items = deliveries(client, job_id, len(expected))

        assert sorted(i["event"] for i in items) == sorted(expected)
        assert items[0]["event"] == "started"
        assert all(i["state"] == "delivered" for i in items)
        retried = [i for i in items if len(i["attempts"]) == 2]
        assert len(retried) == 1
        assert [a["status_code"] for a in retried[0]["attempts"]] == [500, 204]
        assert retried[0]["attempts"][0]["error"] == "HTTP 500"

        assert len(receiver.requests) == len(expected) + 1
        for headers, body, _ in receiver.requests:
            assert verify(headers, body), "signature verifies with the tenant's secret"
            assert abs(int(headers["webhook-timestamp"]) - time.time()) < 120
        first = receiver.requests[0]
        assert first[2] == 500
        (retry,) = [
            r for r in receiver.requests[1:] if r[0]["webhook-id"] == first[0]["webhook-id"]
        ]
        assert retry[0]["webhook-id"] == first[0]["webhook-id"]
        assert retry[1] == first[1], "a retry sends the same payload"
        payloads = [json.loads(body) for _, body, answer in receiver.requests if answer == 204]
        by_type = {p["type"]: p for p in payloads}
        assert sorted(p["type"] for p in payloads) == sorted(f"crawl.{e}" for e in expected)
        assert by_type["crawl.completed"]["data"]["job_id"] == job_id
        assert by_type["crawl.completed"]["data"]["counters"]["fetched"] == 1
        assert "markdown" not in by_type["crawl.page"]["data"]
        assert {p["data"]["url"] for p in payloads if p["type"] == "crawl.page"} == {
            p["url"] for p in pages["items"]
        }
        tampered = {**receiver.requests[2][0], "webhook-timestamp": "1"}
        assert not verify(tampered, receiver.requests[2][1])


def test_webhook_urls_on_private_addresses_are_refused_without_an_allow_list(
    api: ApiStack,
) -> None:
    with api.client() as client:
        webhook = {"url": "http://10.255.255.1/hook", "events": ["completed"]}
        job_id = client.post(
            "/api/v1/crawls",
            json={"url": api.site + "conifers/", "max_depth": 0, "webhook": webhook},
        ).json()["id"]
        wait_finished(client, job_id)
        (item,) = deliveries(client, job_id, 1)
        assert item["state"] == "failed"
        assert len(item["attempts"]) == 1
        assert "refused" in item["attempts"][0]["error"]
        assert "10.255.255.1" in item["attempts"][0]["error"]
