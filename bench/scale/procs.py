"""Processes as ``/proc`` sees them: CPU time, resident memory, descendants."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ProcessSample",
    "command_line",
    "cpu_seconds",
    "descendants",
    "machine_cpu",
    "rss_bytes",
    "sample",
]

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name is in parentheses and may hold spaces: fields start after the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` (``utime + stime``), in seconds; 0 if it is gone."""
    try:
        fields = _stat(pid)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` in bytes; 0 if it is gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return 0


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(_stat(int(entry.name))[1])
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """A process and its descendants at one moment."""

    main_rss: int
    children_rss: int
    children: int
    main_cpu: float
    children_cpu: float


def sample(pid: int) -> ProcessSample:
    """``pid``'s RSS and CPU time, and those of its descendants (summed)."""
    kids = descendants(pid)
    return ProcessSample(
        main_rss=rss_bytes(pid),
        children_rss=sum(rss_bytes(k) for k in kids),
        children=len(kids),
        main_cpu=cpu_seconds(pid),
        children_cpu=sum(cpu_seconds(k) for k in kids),
    )


def machine_cpu() -> tuple[float, float]:
    """Seconds of CPU the whole machine spent busy, and in all (``/proc/stat``), summed
    over its cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / _TICKS, sum(fields) / _TICKS
