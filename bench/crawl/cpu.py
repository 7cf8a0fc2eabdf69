"""CPU accounting from ``/proc``: what each process of a stack spent over a run.

A :class:`CpuSampler` reads ``/proc/<pid>/stat`` (``utime`` + ``stime``) of the processes it is
given and of all their descendants, every ``interval`` seconds, from :meth:`start` to
:meth:`stop`. A process present at the start counts from its value then; one born during the
run counts from zero; one that ends during the run counts up to its last sample (so at most
``interval`` of its CPU is lost). Every process is filed under a group (``api``, ``crawler``,
``extraction pool``, ...); the result is CPU seconds per group, beside the machine's busy CPU
from ``/proc/stat`` over the same span, so what other processes took is known too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")

# A process and its descendants -> the group its CPU is filed under (``pid``, ``cmdline``).
Classifier = Callable[[int, str], str]


@dataclass(frozen=True)
class Stat:
    ppid: int
    cpu: float  # utime + stime, seconds
    system: float  # stime alone: in the kernel (system calls, the network stack)
    start: int  # starttime in ticks since boot: tells a reused pid from the old one


def read_stat(pid: int) -> Stat | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return Stat(int(fields[1]), (utime + stime) / TICK, stime / TICK, int(fields[19]))


def cmdline(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def pids_named(comm: str) -> list[int]:
    """Processes whose ``comm`` (executable name, at most 15 characters) is ``comm``."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm[:15]:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine_busy() -> float:
    """CPU seconds the whole machine spent not idle (all cores) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK  # guest time is already inside user


def _everyone() -> dict[int, Stat]:
    found = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


@dataclass
class _Tracked:
    group: str
    start: int
    first: Stat
    last: Stat


@dataclass
class CpuSampler:
    """``roots``: pid -> classifier of that pid and its descendants (by pid and cmdline)."""

    roots: dict[int, Classifier]
    interval: float = 0.5
    rescan_every: float = 2.0  # how often descendants are looked for (a walk of /proc)
    _tracked: dict[tuple[int, int], _Tracked] = field(default_factory=dict)  # (pid, start)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _began: float = 0.0
    _busy: float = 0.0
    _last_scan: float = 0.0
    _everyone: dict[tuple[int, int], float] = field(default_factory=dict)
    wall: float = 0.0
    machine: float = 0.0
    others: list[tuple[str, float]] = field(default_factory=list)  # the top untracked ones

    def start(self) -> None:
        self._everyone = {(pid, s.start): s.cpu for pid, s in _everyone().items()}
        self._scan(initial=True)
        self._began = time.perf_counter()
        self._busy = machine_busy()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """CPU seconds per group since :meth:`start`."""
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self._sample()
        self.wall = time.perf_counter() - self._began
        self.machine = machine_busy() - self._busy
        self.others = self._others()
        return self._sum(lambda s: s.cpu)

    def _others(self, top: int = 5) -> list[tuple[str, float]]:
        """The processes outside the groups that took most CPU over the run (those that
        both began and ended within it are not seen)."""
        spent = []
        for pid, stat in _everyone().items():
            if (pid, stat.start) in self._tracked:
                continue
            seconds = stat.cpu - self._everyone.get((pid, stat.start), 0.0)
            if seconds >= 0.05:
                spent.append((f"{pid} {cmdline(pid)[:100]}", round(seconds, 2)))
        return sorted(spent, key=lambda item: -item[1])[:top]

    def system(self) -> dict[str, float]:
        """Of :meth:`stop`'s figures, the CPU seconds spent in the kernel."""
        return self._sum(lambda s: s.system)

    def _sum(self, value: Callable[[Stat], float]) -> dict[str, float]:
        groups: dict[str, float] = {}
        for t in self._tracked.values():
            groups[t.group] = groups.get(t.group, 0.0) + value(t.last) - value(t.first)
        return {name: round(seconds, 2) for name, seconds in sorted(groups.items())}

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if time.perf_counter() - self._last_scan >= self.rescan_every:
                self._scan(initial=False)
            self._sample()

    def _scan(self, *, initial: bool) -> None:
        """Find the roots' descendants; newcomers count from their start (zero)."""
        self._last_scan = time.perf_counter()
        everyone = _everyone()
        children: dict[int, list[int]] = {}
        for pid, stat in everyone.items():
            children.setdefault(stat.ppid, []).append(pid)
        for root, classify in self.roots.items():
            todo = [root]
            while todo:
                pid = todo.pop()
                todo.extend(children.get(pid, []))
                found = everyone.get(pid)
                if found is None or (pid, found.start) in self._tracked:
                    continue
                stat = found
                first = stat if initial else Stat(stat.ppid, 0.0, 0.0, stat.start)
                group = classify(pid, cmdline(pid))
                self._tracked[pid, stat.start] = _Tracked(group, stat.start, first, stat)

    def _sample(self) -> None:
        for (pid, _), tracked in self._tracked.items():
            stat = read_stat(pid)
            if stat is not None and stat.start == tracked.start:
                tracked.last = stat
