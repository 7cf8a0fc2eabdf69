"""Webhook signing, the address policy and the outbox, without I/O."""

from __future__ import annotations

import ipaddress
from typing import Any, cast

from pymongo.asynchronous.database import AsyncDatabase

from crawl_contracts import CrawlRequest, CrawlRequested, CrawlStarted
from crawl_status.webhooks import AddressPolicy, WebhookOutbox, sign


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


def test_signatures_match_the_standard_webhooks_reference_vector() -> None:
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_private_loopback_link_local_and_metadata_addresses_need_the_allow_list() -> None:
    strict = AddressPolicy([])
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "fd00::1"):
        assert not strict.permits(ipaddress.ip_address(address)), address
    # IPv6 forms of private IPv4 addresses: mapped, 6to4, NAT64 (and local-use NAT64).
    for address in ("::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a00:1", "64:ff9b:1::808:808"):
        assert not strict.permits(ipaddress.ip_address(address)), address
    assert strict.permits(ipaddress.ip_address("93.184.216.34"))
    assert strict.permits(ipaddress.ip_address("64:ff9b::5db8:d822"))  # NAT64 of the above
    local = AddressPolicy(["127.0.0.0/8"])
    assert local.permits(ipaddress.ip_address("127.0.0.1"))
    assert not local.permits(ipaddress.ip_address("10.1.2.3"))
