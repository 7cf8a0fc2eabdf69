"""Webhook signing, the address policy and the outbox, without I/O."""

from __future__ import annotations

import ipaddress
import json
from typing import Any, cast

from pymongo.asynchronous.database import AsyncDatabase

from crawl_contracts import CrawlRequest, CrawlRequested, CrawlStarted, Outcome, PageRecorded
from crawl_netguard import AddressPolicy, Resolve
from crawl_status.settings import StatusSettings
from crawl_status.webhooks import WebhookDispatcher, WebhookOutbox, refusal, sign


class Collection:
    def __init__(self) -> None:
        self.reads = 0
        self.inserted: list[dict[str, Any]] = []

    async def find_one(self, *_: Any) -> dict[str, Any] | None:
        self.reads += 1
        return None

    async def insert_one(self, doc: dict[str, Any]) -> None:
        self.inserted.append(doc)


async def test_the_outbox_learns_a_jobs_webhook_from_its_command_without_a_read() -> None:
    crawls, deliveries = Collection(), Collection()
    database = {"crawls": crawls, "webhook_deliveries": deliveries}
    outbox = WebhookOutbox(cast("AsyncDatabase[dict[str, Any]]", database))
    hooked = CrawlRequest(
        url="http://127.0.0.1:9/",
        webhook={"url": "http://127.0.0.1:9/hook", "events": ["started"]},
    )
    for job_id, request in (("hooked", hooked), ("plain", CrawlRequest(url="http://127.0.0.1:9/"))):
        await outbox.enqueue(CrawlRequested(job_id=job_id, tenant="t", request=request))
        await outbox.enqueue(CrawlStarted(job_id=job_id, tenant="t", worker_id="w"))
    assert crawls.reads == 0
    assert [(d["job_id"], d["event"], d["url"]) for d in deliveries.inserted] == [
        ("hooked", "started", "http://127.0.0.1:9/hook")
    ]


async def test_a_recrawls_new_and_changed_pages_are_delivered_as_page_changed() -> None:
    crawls, deliveries = Collection(), Collection()
    database = {"crawls": crawls, "webhook_deliveries": deliveries}
    outbox = WebhookOutbox(cast("AsyncDatabase[dict[str, Any]]", database))
    request = CrawlRequest(
        url="http://127.0.0.1:9/",
        since="earlier",
        webhook={"url": "http://127.0.0.1:9/hook", "events": ["page", "page.changed"]},
    )
    await outbox.enqueue(CrawlRequested(job_id="j", tenant="t", request=request))
    pages = {
        "/new": (Outcome.FETCHED, "added"),
        "/edited": (Outcome.FETCHED, "changed"),
        "/same": (Outcome.UNCHANGED, "unchanged"),
        "/gone": (Outcome.FAILED, None),
    }
    for path, (outcome, change) in pages.items():
        page = PageRecorded(
            job_id="j",
            tenant="t",
            url=f"http://127.0.0.1:9{path}",
            outcome=outcome,
            depth=1,
            change=change,
            markdown="text",
            links=("http://127.0.0.1:9/",),
        )
        await outbox.enqueue(page)
    delivered = [
        (d["event"], json.loads(d["body"])["data"]["url"].removeprefix("http://127.0.0.1:9"))
        for d in deliveries.inserted
    ]
    assert sorted(e for e in delivered if e[0] == "page.changed") == [
        ("page.changed", "/edited"),
        ("page.changed", "/new"),
    ]
    assert len([e for e in delivered if e[0] == "page"]) == 4
    assert len({d["_id"] for d in deliveries.inserted}) == 6  # one delivery per page and event
    changed = next(
        json.loads(d["body"]) for d in deliveries.inserted if d["event"] == "page.changed"
    )
    assert changed["type"] == "crawl.page.changed"
    assert "markdown" not in changed["data"]
    assert "links" not in changed["data"]


def test_signatures_match_the_standard_webhooks_reference_vector() -> None:
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def to(address: str) -> Resolve:
    """A resolver that answers ``address`` for every name."""

    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    return resolve


async def test_a_webhook_host_is_refused_when_an_address_it_resolves_to_is() -> None:
    # The policy's cases are crawl_netguard's tests; here, that deliveries ask it.
    policy = AddressPolicy()
    assert await refusal(policy, "https://hooks.example/x", resolve=to("8.8.8.8")) is None
    refused = await refusal(policy, "https://hooks.example/x", resolve=to("100.64.0.1"))
    assert refused == "hooks.example resolves to 100.64.0.1, which webhooks may not reach"


async def test_the_dispatcher_admits_the_networks_of_its_settings() -> None:
    database = {"webhook_deliveries": Collection()}
    settings = StatusSettings(webhook_allowed_networks=["127.0.0.0/8"])
    dispatcher = WebhookDispatcher(cast("AsyncDatabase[dict[str, Any]]", database), settings)
    try:
        assert dispatcher.policy.permits(ipaddress.ip_address("127.0.0.1"))
        assert not dispatcher.policy.permits(ipaddress.ip_address("10.1.2.3"))
    finally:
        await dispatcher.close()
