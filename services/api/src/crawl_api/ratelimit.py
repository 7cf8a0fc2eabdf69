"""Per-principal request rate limits: a token bucket per (tenant, user).

Buckets live in the process, so the hot path touches no shared store; with several API
processes each one takes what the others admitted off its own buckets as their usage shares
arrive (``crawl_api.usage``, a few times a second), so the limit holds across processes to
within what they admit in one share interval. A bucket may go below zero that way: its
principal then waits until the debt is refilled.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """``admit(key)`` returns ``None`` when admitted, else the seconds until a token is free."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def admit(self, key: str) -> float | None:
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        wait: float | None = None
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._rate
        self._buckets[key] = (tokens, now)  # most recently used last
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait

    def deduct(self, key: str, tokens: float) -> None:
        """Take ``tokens`` that another process admitted for ``key`` off its bucket (a debt
        of at most a burst and one second of rate)."""
        now = self._clock()
        held, at = self._buckets.pop(key, (self._burst, now))
        held = min(self._burst, held + (now - at) * self._rate) - tokens
        self._buckets[key] = (max(held, -self._burst - self._rate), now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    @staticmethod
    def retry_after(wait: float) -> str:
        """A Retry-After value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait)))
