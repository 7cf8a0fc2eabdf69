"""Webhook signing and the address policy, without I/O."""

from __future__ import annotations

import ipaddress

from crawl_status.webhooks import AddressPolicy, sign


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
    assert strict.permits(ipaddress.ip_address("93.184.216.34"))
    local = AddressPolicy(["127.0.0.0/8"])
    assert local.permits(ipaddress.ip_address("127.0.0.1"))
    assert not local.permits(ipaddress.ip_address("10.1.2.3"))
