"""Outgoing connections to the addresses one policy admits (the crawler's fetches and the
status service's webhook deliveries).

:class:`AddressPolicy` (``crawl_netguard.policy``) says which addresses may be reached:
globally routable unicast ones, plus the networks a deployment allows; each service builds
it from its own settings. This package also makes the connection itself:
:class:`PinnedBackend` resolves the host once per connection, refuses it unless the policy's
``permits`` admits every address it resolves to, and connects to an address it checked. A
name that answers a public address to an earlier check and a private one to the connect (DNS
rebinding) therefore reaches nothing it may not. TLS still verifies (and sends as SNI) the
host name, which httpcore passes separately.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from crawl_netguard.policy import SHARED_ADDRESS_SPACE, AddressPolicy, IPAddress, IPNetwork

__all__ = [
    "SHARED_ADDRESS_SPACE",
    "AddressPolicy",
    "AddressRefusedError",
    "IPAddress",
    "IPNetwork",
    "PinnedBackend",
    "Resolve",
    "parse",
    "pinned_transport",
    "resolve",
]

Resolve = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, as the system resolver gives them."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse(resolved: list[str]) -> list[IPAddress]:
    """Resolved addresses, each once, in the resolver's order (without IPv6 zone ids)."""
    return list(dict.fromkeys(ipaddress.ip_address(a.split("%")[0]) for a in resolved))


class AddressRefusedError(httpcore.ConnectError):
    """The host resolved to an address the policy refuses (at connect time)."""


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to resolved addresses that ``permits`` admits, by address: the name is
    resolved once per connection and the checked address is the one connected to."""

    def __init__(
        self,
        permits: Callable[[IPAddress], bool],
        *,
        resolve: Resolve = resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._permits = permits
        self._resolve = resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            resolved = await self._resolve(host.strip("[]"), port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = parse(resolved)
        refused = [a for a in addresses if not self._permits(a)]
        if not addresses or refused:
            raise AddressRefusedError(f"{host} resolves to {refused or 'nothing'}: refused")
        for address in addresses[:-1]:  # each checked address in turn, like a plain connect
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return await self._inner.connect_tcp(
            str(addresses[-1]), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefusedError("unix sockets are never connected to")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_transport(
    permits: Callable[[IPAddress], bool], *, resolve: Resolve = resolve, **options: Any
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through :class:`PinnedBackend`."""
    transport = httpx.AsyncHTTPTransport(**options)
    pool = transport._pool  # httpx builds the pool; only its network backend is swapped
    if not hasattr(pool, "_network_backend"):  # pragma: no cover - guards an httpx upgrade
        raise RuntimeError("httpx/httpcore changed: cannot pin connections to checked addresses")
    pool._network_backend = PinnedBackend(permits, resolve=resolve)
    return transport
