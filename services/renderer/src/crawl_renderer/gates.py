"""Each job's per-host politeness in this renderer process: one ``HostGate`` per job, made
from the limits the crawler sent, dropped once the job sent nothing for a while.

A host's limits hold within this process: the crawler's fetches pass its own gate, so a host
may see the crawler's requests and a renderer's at the same time (each within the limits).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from crawl_contracts import RenderPoliteness
from crawl_politeness import HostGate, PolitenessLimits

__all__ = ["JobGates"]


class JobGates:
    def __init__(
        self, idle_seconds: float = 600.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._idle = idle_seconds
        self._clock = clock
        self._gates: dict[str, tuple[HostGate, PolitenessLimits, float]] = {}

    def __len__(self) -> int:
        return len(self._gates)

    def gate(self, job_id: str, politeness: RenderPoliteness) -> HostGate:
        """The job's gate (a new one if its limits changed, e.g. a resumed attempt's)."""
        now = self._clock()
        for key in [k for k, (_, _, used) in self._gates.items() if now - used > self._idle]:
            del self._gates[key]
        limits = PolitenessLimits(concurrency=politeness.concurrency, delay=politeness.delay)
        known = self._gates.get(job_id)
        gate = known[0] if known is not None and known[1] == limits else HostGate(limits)
        self._gates[job_id] = (gate, limits, now)
        return gate
