"""Which IP addresses outgoing connections may reach: one policy for the crawler's fetches and
the status service's webhook deliveries.

By default only globally routable unicast addresses are permitted. Refused:

- loopback (127.0.0.0/8, ::1) and unspecified (0.0.0.0/8, ::);
- private (10/8, 172.16/12, 192.168/16, fc00::/7) and the other ranges not routed on the
  internet (documentation, benchmarking, IETF protocol assignments, site-local fec0::/10);
- shared address space, 100.64.0.0/10 (RFC 6598: carrier-grade NAT, and in many clouds and
  clusters the addresses of internal services): reachable from inside a provider's network
  only, so as internal as a private range;
- link-local (169.254.0.0/16, fe80::/10), and with it the cloud metadata endpoints
  169.254.169.254 and fd00:ec2::254, named explicitly so no future change lets them through;
- multicast (224.0.0.0/4, ff00::/8), reserved (240.0.0.0/4 with the broadcast address, and
  the IPv6 reserved blocks);
- IPv6 forms that reach an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``,
  the NAT64 well-known prefix ``64:ff9b::/96``) are judged by that IPv4 address, as if it had
  been given; the local-use NAT64 prefix ``64:ff9b:1::/48`` has an operator-chosen layout and
  is always refused by default.

A deployment admits more with ``allowed_networks`` (CIDR ranges, e.g. ``["127.0.0.0/8"]``
for local test sites): an address in one of them is permitted whatever the defaults say, and
so is an IPv6 form whose embedded IPv4 address is in one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["SHARED_ADDRESS_SPACE", "AddressPolicy", "IPAddress", "IPNetwork"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
"""RFC 6598; refused by default (Python does not count it as private, but not as global either)."""

_METADATA = (ipaddress.IPv4Address("169.254.169.254"), ipaddress.IPv6Address("fd00:ec2::254"))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: IPv4 in the last 32 bits
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # operator-chosen layout: never public


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches (mapped, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _refused_by_default(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and (
        address in _LOCAL_NAT64 or address.is_site_local
    ):
        return True
    # Both Python's flags and "not global": their lists differ across Python versions, and
    # an address either of them calls internal stays internal.
    return (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in SHARED_ADDRESS_SPACE
        or address in _METADATA
    )


class AddressPolicy:
    """Says whether an IP address may be connected to: globally routable unicast addresses by
    default (see the module docstring for what is refused and why), plus the deployment's
    ``allowed_networks``.

    Raises ``ValueError`` for an allowed network that is not a CIDR range or an address.
    """

    def __init__(self, allowed_networks: Iterable[str] = ()) -> None:
        self._allowed: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in allowed_networks
        )

    @property
    def allowed_networks(self) -> tuple[IPNetwork, ...]:
        """The networks admitted although the defaults refuse them."""
        return self._allowed

    def permits(self, address: IPAddress) -> bool:
        """``True`` if ``address`` may be connected to."""
        if any(address in network for network in self._allowed):
            return True
        if isinstance(address, ipaddress.IPv6Address):
            embedded = _embedded_ipv4(address)
            if embedded is not None:
                return self.permits(embedded)
        return not _refused_by_default(address)

    def __repr__(self) -> str:
        allowed = [str(n) for n in self._allowed]
        return f"AddressPolicy(allowed_networks={allowed!r})"
