"""Which hosts the crawler may connect to.

The rule on addresses is ``crawl_netguard.AddressPolicy``, shared with the status service's
webhook deliveries: loopback, private, shared (100.64.0.0/10), link-local, metadata,
multicast, reserved and unspecified addresses are refused unless the operator allow-list
(``allowed_networks``) admits them. This module applies it to hosts: the check runs on the
resolved addresses of every host, and the fetcher repeats it on every redirect hop (so each
URL gets its recorded reason). The connection itself is made by :class:`PinnedBackend`,
which resolves the host again, checks those addresses and connects to the one it checked:
a name that answers a public address to the check and a private one to the connect (DNS
rebinding) still reaches nothing it may not.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from crawl_netguard import (
    AddressPolicy,
    AddressRefusedError,
    IPAddress,
    PinnedBackend,
    parse,
    pinned_transport,
    resolve,
)

__all__ = ["AddressGuard", "AddressRefusedError", "PinnedBackend", "pinned_transport"]


class AddressGuard:
    """Resolves hosts and says whether every address they resolve to may be crawled."""

    def __init__(self, allowed_networks: Iterable[str] = ()) -> None:
        self.policy = AddressPolicy(allowed_networks)
        self._cache: dict[tuple[str, int], str | None] = {}

    def permits(self, address: IPAddress) -> bool:
        """The address policy's answer (``crawl_netguard.AddressPolicy.permits``)."""
        return self.policy.permits(address)

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
