"""Which addresses the crawler may connect to.

Loopback, private, link-local, multicast, reserved and cloud-metadata addresses are refused
unless an operator allow-list (``allowed_networks``) admits them. The check runs on the
resolved addresses of every host, and the fetcher repeats it on every redirect hop (so each
URL gets its recorded reason). The connection itself is made by :class:`PinnedBackend`,
which resolves the host again, checks those addresses and connects to the one it checked:
a name that answers a public address to the check and a private one to the connect (DNS
rebinding) still reaches nothing it may not. That connection mechanism is shared with the
status service's webhook deliveries (``crawl_netguard``); the rules are the crawler's.
"""

from __future__ import annotations

import ipaddress
import socket

from crawl_netguard import (
    AddressRefusedError,
    IPAddress,
    PinnedBackend,
    parse,
    pinned_transport,
    resolve,
)

__all__ = ["AddressGuard", "AddressRefusedError", "PinnedBackend", "pinned_transport"]

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
            addresses = parse(await resolve(host, port))
        except (socket.gaierror, UnicodeError):
            return "dns_error"
        if not addresses:
            return "dns_error"
        if all(self.permits(a) for a in addresses):
            return None
        return "blocked_address"
