"""The resident memory of a process tree (a renderer and its Chromium, or the peer and its
Chromium), sampled every second from ``/proc`` while a crawl runs, and whether it stayed flat.

RSS is summed over the tree's processes, so memory that Chromium's processes share (its
binary, shared memory between them) counts once per process; PSS (``smaps_rollup``) shares
it out and is reported beside it.

The rule for "flat" (``flatness``): the first ``WARM_UP`` of the samples are left out (the
browser's first pages: its caches and V8 heaps fill), the rest is cut into quarters, and the
median of the last quarter must be at most ``FLAT_RATIO`` times the median of the first.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.scale.procs import descendants, rss_bytes

__all__ = ["FLAT_RATIO", "WARM_UP", "TreeMemory", "flatness"]

FLAT_RATIO = 1.3
WARM_UP = 0.1
_MIB = 1024 * 1024


def pss_bytes(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes; 0 if it is gone or not readable."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
        return 0
    return 0


@dataclass
class TreeMemory:
    """Samples ``pid`` and its descendants every ``every`` seconds in a thread of its own:
    ``(seconds since start, main RSS, descendants' RSS, descendants, PSS of all)``."""

    pid: int
    every: float = 1.0
    samples: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> list[tuple[float, int, int, int, int]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.samples

    def _run(self) -> None:
        began = time.monotonic()
        while True:
            main = rss_bytes(self.pid)
            if main:
                kids = descendants(self.pid)
                self.samples.append(
                    (
                        round(time.monotonic() - began, 2),
                        main,
                        sum(rss_bytes(k) for k in kids),
                        len(kids),
                        sum(pss_bytes(p) for p in (self.pid, *kids)),
                    )
                )
            if self._stop.wait(self.every):
                return


def flatness(samples: list[tuple[float, int, int, int, int]]) -> dict[str, Any]:
    """Start, median, largest and the quartiles' medians of the tree's RSS (MiB), and whether
    it was flat by the module's rule."""
    totals = [main + kids for _, main, kids, _, _ in samples]
    if len(totals) < 8:
        return {"samples": len(totals), "flat": None, "why": "too few samples"}
    kept = totals[int(len(totals) * WARM_UP) :]
    quarter = max(1, len(kept) // 4)
    first, last = statistics.median(kept[:quarter]), statistics.median(kept[-quarter:])
    ratio = last / first
    return {
        "samples": len(totals),
        # Mean spacing: on a loaded machine a sample can come late.
        "every_seconds": round((samples[-1][0] - samples[0][0]) / (len(samples) - 1), 2),
        "start_mib": round(totals[0] / _MIB, 1),
        "median_mib": round(statistics.median(totals) / _MIB, 1),
        "max_mib": round(max(totals) / _MIB, 1),
        "pss_median_mib": round(statistics.median(s[4] for s in samples) / _MIB, 1),
        "pss_max_mib": round(max(s[4] for s in samples) / _MIB, 1),
        "main_process_max_mib": round(max(s[1] for s in samples) / _MIB, 1),
        "browser_max_mib": round(max(s[2] for s in samples) / _MIB, 1),
        "processes_max": 1 + max(s[3] for s in samples),
        "first_quarter_median_mib": round(first / _MIB, 1),
        "last_quarter_median_mib": round(last / _MIB, 1),
        "last_to_first_quarter": round(ratio, 3),
        "rule": (
            f"first {WARM_UP:.0%} of the samples left out as warm-up; the rest in quarters; "
            f"flat if the last quarter's median <= {FLAT_RATIO}x the first quarter's"
        ),
        "flat": ratio <= FLAT_RATIO,
        "series_mib": [round(t / _MIB) for t in totals],
    }
