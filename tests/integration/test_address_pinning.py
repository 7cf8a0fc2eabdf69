"""Connections go to the address that was checked, at connect time (DNS rebinding): the
crawler's and the webhook sender's transports, against a real loopback server."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx
import pytest

from crawl_contracts import Outcome
from crawl_netguard import AddressPolicy
from crawl_status.webhooks import webhook_client
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.safety import AddressGuard, AddressRefusedError, pinned_transport
from tests.sites.serve import serving

pytestmark = pytest.mark.integration

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


async def to_loopback(host: str, port: int) -> list[str]:
    """A resolver under an attacker's control: every name answers 127.0.0.1."""
    return ["127.0.0.1"]


def nothing(address: IPAddress) -> bool:
    return False


async def test_the_crawler_connects_to_the_checked_address_only() -> None:
    with serving() as base:
        port = urlsplit(base).port
        # "site.invalid" exists in no DNS: an answer proves the checked address was used.
        url = f"http://site.invalid:{port}/conifers/"
        loopback = AddressGuard(["127.0.0.0/8"])
        async with httpx.AsyncClient(
            transport=pinned_transport(loopback.permits, resolve=to_loopback)
        ) as client:
            assert (await client.get(url)).status_code == 200
        async with httpx.AsyncClient(
            transport=pinned_transport(AddressGuard().permits, resolve=to_loopback)
        ) as client:
            with pytest.raises(httpx.ConnectError) as refused:
                await client.get(url)
            assert isinstance(refused.value.__cause__, AddressRefusedError)
            # The fetcher's own check passed (it admits everything here), the connect-time
            # check did not: the URL is recorded as a blocked address, not a network error.
            fetcher = Fetcher(client, AddressGuard(["0.0.0.0/0", "::/0"]), FetchLimits())
            result = await fetcher.fetch(f"http://127.0.0.1:{port}/conifers/")
            assert (result.outcome, result.reason) == (Outcome.SKIPPED, "blocked_address")


async def test_webhooks_connect_to_the_checked_address_only() -> None:
    with serving() as base:
        url = f"http://hooks.invalid:{urlsplit(base).port}/conifers/"
        allowed = AddressPolicy(["127.0.0.0/8"])
        async with webhook_client(allowed, timeout=5, resolve=to_loopback) as client:
            assert (await client.get(url)).status_code == 200
        async with webhook_client(AddressPolicy(), timeout=5, resolve=to_loopback) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(url)
