"""Limits across API processes: a usage share from another process is taken off this one's
buckets and tenant counts; this process's own shares are ignored; a failed share is kept."""

from __future__ import annotations

from typing import Any

import pytest

from crawl_api.ratelimit import RateLimiter
from crawl_api.usage import UsageShare
from crawl_contracts.usage import ApiUsage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Counts:
    def __init__(self) -> None:
        self.elsewhere: dict[str, int] = {}

    def count_elsewhere(self, tenant: str, jobs: int) -> None:
        self.elsewhere[tenant] = self.elsewhere.get(tenant, 0) + jobs


def share(process: str, **fields: Any) -> bytes:
    return ApiUsage(process=process, **fields).model_dump_json().encode()


def test_requests_admitted_elsewhere_empty_this_process_bucket() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 5, clock=clock)
    usage = UsageShare("amqp://unused", limiter, interval=0.1, process="me")
    usage.receive(share("other", requests={"t\x00u": 5}))
    assert limiter.admit("t\x00u") == pytest.approx(0.1)  # the burst went elsewhere
    assert limiter.admit("t\x00v") is None  # another principal is untouched
    usage.receive(share("me", requests={"t\x00v": 5}))  # its own share: ignored
    assert limiter.admit("t\x00v") is None


def test_a_debt_is_refilled_before_the_next_request_and_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 5, clock=clock)
    limiter.deduct("k", 1000)  # a flood elsewhere: at most a burst and a second in debt
    clock.now += 1.5
    assert limiter.admit("k") is not None  # -15 + 15 = 0 tokens: still waiting
    clock.now += 0.2
    assert limiter.admit("k") is None


async def test_submissions_elsewhere_count_against_the_tenant_and_a_failed_share_is_kept() -> None:
    limiter = RateLimiter(10, 5)
    usage = UsageShare("amqp://unused", limiter, interval=0.1, process="me")
    counts = Counts()
    usage._counts = counts
    usage.receive(share("other", submissions={"acme": 2}))
    usage.receive(b"not json")  # logged and dropped
    assert counts.elsewhere == {"acme": 2}

    class Refusing:
        async def publish(self, *_: Any, **__: Any) -> None:
            raise ConnectionError("broker down")

    usage._exchange = Refusing()  # type: ignore[assignment]
    usage.admitted("k")
    usage.submitted("acme")
    await usage.share()
    assert usage._requests == {"k": 1}  # kept for the next share
    assert usage._submissions == {"acme": 1}
