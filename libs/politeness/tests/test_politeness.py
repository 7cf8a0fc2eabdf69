"""Per-host gate: concurrency, delay between starts, pauses, operator limits."""

from __future__ import annotations

import asyncio
import itertools
import time

from crawl_politeness import HostGate, PolitenessLimits


async def starts_of(gate: HostGate, urls: list[str]) -> list[float]:
    starts: list[float] = []

    async def one(url: str) -> None:
        async with gate.slot(url):
            starts.append(time.monotonic())

    await asyncio.gather(*(one(u) for u in urls))
    return sorted(starts)


async def test_requests_to_one_host_start_at_least_the_delay_apart() -> None:
    gate = HostGate(PolitenessLimits(concurrency=4, delay=0.05))
    starts = await starts_of(gate, ["http://a.test/x"] * 4)
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(starts))


async def test_other_hosts_are_not_held_back() -> None:
    gate = HostGate(PolitenessLimits(concurrency=1, delay=0.5))
    starts = await starts_of(gate, ["http://a.test/", "http://b.test/", "http://c.test/"])
    assert starts[-1] - starts[0] < 0.2


async def test_robots_crawl_delay_raises_the_delay_up_to_the_operator_cap() -> None:
    async def crawl_delay(url: str) -> float:
        return 100.0 if "slow" in url else 0.02

    gate = HostGate(PolitenessLimits(delay=0.01, max_crawl_delay=3.0), crawl_delay)
    assert await gate.delay_of("http://slow.test/") == 3.0
    assert await gate.delay_of("http://fast.test/") == 0.02


async def test_a_pause_holds_back_the_next_request_to_that_host() -> None:
    gate = HostGate(PolitenessLimits())
    gate.pause("http://a.test/", 0.1)
    before = time.monotonic()
    async with gate.slot("http://a.test/other"):
        assert time.monotonic() - before >= 0.09


async def test_concurrency_per_host_is_bounded() -> None:
    gate = HostGate(PolitenessLimits(concurrency=2))
    inside = 0
    peak = 0

    async def one() -> None:
        nonlocal inside, peak
        async with gate.slot("http://a.test/"):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(one() for _ in range(6)))
    assert peak == 2


def test_a_request_may_be_more_polite_but_never_less_than_the_operator_allows() -> None:
    def resolve(concurrency: int | None, delay: float | None) -> PolitenessLimits:
        return PolitenessLimits.resolve(
            default_concurrency=8,
            max_concurrency=16,
            default_delay=0.0,
            min_delay=0.5,
            max_crawl_delay=30,
            requested_concurrency=concurrency,
            requested_delay=delay,
        )

    assert (resolve(None, None).concurrency, resolve(None, None).delay) == (8, 0.5)
    assert (resolve(64, 0.0).concurrency, resolve(64, 0.0).delay) == (16, 0.5)
    assert (resolve(2, 3.0).concurrency, resolve(2, 3.0).delay) == (2, 3.0)
