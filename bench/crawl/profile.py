"""Top functions of a py-spy recording in collapsed-stack form (``py-spy record --format raw``).

``python -m bench.crawl.profile FILE [TOP]`` prints, by share of the samples, the functions
the process was in (self) and the functions on the stack (inclusive), line numbers dropped.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def _frame(raw: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (to/module.py)``."""
    name = _LINE.sub(")", raw.strip())
    if " (" in name:
        func, path = name.split(" (", 1)
        parts = path.rstrip(")").split("/")
        name = f"{func} ({'/'.join(parts[-2:])})"
    return name


def summarise(path: Path, top: int = 20) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        parts = stack.split(";")
        # With --threads / --subprocesses the first elements name the process and the thread.
        while parts and parts[0].startswith(("thread (", "process ")):
            threads[parts.pop(0)] += n
        frames = [_frame(f) for f in parts]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if total == 0:
        return f"{path}: no samples"
    lines = [f"{total} samples"]
    lines += [f"  {100 * n / total:5.1f}%  {t}" for t, n in threads.most_common(top)]
    lines.append("self:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("inclusive:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    print(summarise(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 20))


if __name__ == "__main__":
    main()
