"""The address policy both services apply: what it refuses by default, what an allow-list
admits, and IPv6 forms of IPv4 addresses judged by the address they reach."""

from __future__ import annotations

import ipaddress

import pytest

from crawl_netguard import AddressPolicy


def permitted(policy: AddressPolicy, address: str) -> bool:
    return policy.permits(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "::1",
        "0.0.0.0",  # unspecified
        "::",
        "10.1.2.3",  # private
        "172.16.0.1",
        "192.168.0.1",
        "fd00::1",
        "100.64.0.1",  # shared address space (RFC 6598)
        "100.127.255.254",
        "169.254.0.1",  # link-local
        "169.254.169.254",  # cloud metadata
        "fd00:ec2::254",
        "fe80::1",
        "fec0::1",  # site-local
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "ff0e::1",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "2001:db8::1",
        "198.18.0.1",  # benchmarking
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:100.64.0.1",
        "::ffff:169.254.169.254",
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
        "2002:6440:1::",  # 6to4 of 100.64.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b:1::808:808",  # local-use NAT64: layout unknown
    ],
)
def test_internal_addresses_are_refused_by_default(address: str) -> None:
    assert not permitted(AddressPolicy(), address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.216.34",
        "100.63.255.255",  # just below the shared address space
        "100.128.0.0",  # just above it
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",  # IPv4-mapped
        "2002:808:808::",  # 6to4 of 8.8.8.8
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
    ],
)
def test_public_unicast_addresses_are_permitted(address: str) -> None:
    assert permitted(AddressPolicy(), address)


def test_an_allowed_network_admits_its_addresses_and_no_others() -> None:
    local = AddressPolicy(["127.0.0.0/8"])
    assert permitted(local, "127.0.0.1")
    assert permitted(local, "127.255.0.9")
    assert not permitted(local, "10.1.2.3")
    assert not permitted(local, "::1")  # IPv6 loopback is not in an IPv4 range
    assert permitted(local, "8.8.8.8")  # the defaults still permit public addresses


def test_ipv6_forms_of_an_allowed_ipv4_address_are_admitted_with_it() -> None:
    local = AddressPolicy(["127.0.0.0/8"])
    for address in ("::ffff:127.0.0.1", "2002:7f00:1::", "64:ff9b::7f00:1"):
        assert permitted(local, address), address
    assert not permitted(local, "::ffff:10.0.0.1")


def test_the_shared_address_space_needs_the_allow_list_like_a_private_range() -> None:
    assert not permitted(AddressPolicy(), "100.64.0.1")
    assert permitted(AddressPolicy(["100.64.0.0/10"]), "100.64.0.1")


def test_ipv6_allowed_networks_and_everything_at_once() -> None:
    assert permitted(AddressPolicy(["fd00::/8"]), "fd00::1")
    assert not permitted(AddressPolicy(["fd00::/8"]), "fe80::1")
    everything = AddressPolicy(["0.0.0.0/0", "::/0"])
    for address in ("127.0.0.1", "169.254.169.254", "::1", "64:ff9b:1::1", "ff02::1"):
        assert permitted(everything, address), address


def test_allowed_networks_are_parsed_once_and_shown() -> None:
    policy = AddressPolicy(["127.0.0.1/8", "10.0.0.1"])  # host bits and bare addresses accepted
    assert policy.allowed_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("10.0.0.1/32"),
    )
    assert "127.0.0.0/8" in repr(policy)


def test_an_allowed_network_that_is_not_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="does not appear to be"):
        AddressPolicy(["localhost"])
