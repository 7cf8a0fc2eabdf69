"""Which addresses the crawler may connect to.

Loopback, private, link-local, multicast, reserved and cloud-metadata addresses are refused
unless an operator allow-list (``allowed_networks``) admits them. The check runs on the
resolved addresses of every host, and the fetcher repeats it on every redirect hop (so each
URL gets its recorded reason). The connection itself is made by :class:`PinnedBackend`,
which resolves the host again, checks those addresses and connects to the one it checked:
a name that answers a public address to the check and a private one to the connect (DNS
rebinding) still reaches nothing it may not.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["AddressGuard", "AddressRefusedError", "PinnedBackend", "pinned_transport"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: IPv4 in the last 32 bits
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # operator-chosen layout: never public


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that reach an IPv4 address (mapped, 6to4, NAT64) are judged by it.
        if address.ipv4_mapped is not None:
            return _is_public(address.ipv4_mapped)
        if address.sixtofour is not None:
            return _is_public(address.sixtofour)
        if address in _NAT64:
            return _is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address in _LOCAL_NAT64:
            return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in _METADATA
    )


class AddressGuard:
    """Resolves hosts and says whether every address they resolve to may be crawled."""

    def __init__(self, allowed_networks: list[str] | tuple[str, ...] = ()) -> None:
        self._allowed = tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks)
        self._cache: dict[tuple[str, int], str | None] = {}

    def permits(self, address: IPAddress) -> bool:
        return _is_public(address) or any(address in net for net in self._allowed)

    async def refusal(self, host: str, port: int) -> str | None:
        """``None`` if the host may be crawled, else the reason (``blocked_address``,
        ``dns_error``). Answers are cached for the guard's life (one crawl)."""
        key = (host, port)
        if key not in self._cache:
            self._cache[key] = await self._check(host, port)
        return self._cache[key]

    async def _check(self, host: str, port: int) -> str | None:
        host = host.strip("[]")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            return None if self.permits(literal) else "blocked_address"
        try:
            addresses = _parse(await _resolve(host, port))
        except (socket.gaierror, UnicodeError):
            return "dns_error"
        if not addresses:
            return "dns_error"
        if all(self.permits(a) for a in addresses):
            return None
        return "blocked_address"


Resolve = Callable[[str, int], Awaitable[list[str]]]


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _parse(resolved: list[str]) -> list[IPAddress]:
    """Resolved addresses, each once, in the resolver's order (without IPv6 zone ids)."""
    return list(dict.fromkeys(ipaddress.ip_address(a.split("%")[0]) for a in resolved))


class AddressRefusedError(httpcore.ConnectError):
    """The host resolved to an address the policy refuses (at connect time)."""


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to resolved addresses that ``permits`` admits, by address: the name is
    resolved once per connection and the checked address is the one connected to. TLS still
    verifies (and sends as SNI) the host name, which httpcore passes separately."""

    def __init__(
        self,
        permits: Callable[[IPAddress], bool],
        *,
        resolve: Resolve = _resolve,
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
        addresses = _parse(resolved)
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
    permits: Callable[[IPAddress], bool], *, resolve: Resolve = _resolve, **options: Any
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through :class:`PinnedBackend`."""
    transport = httpx.AsyncHTTPTransport(**options)
    pool = transport._pool  # httpx builds the pool; only its network backend is swapped
    if not hasattr(pool, "_network_backend"):  # pragma: no cover - guards an httpx upgrade
        raise RuntimeError("httpx/httpcore changed: cannot pin connections to checked addresses")
    pool._network_backend = PinnedBackend(permits, resolve=resolve)
    return transport
