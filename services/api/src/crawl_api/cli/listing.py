"""``crawlctl ls``'s table: one line per crawl that fits the terminal, ids first and whole.

At 80 columns a crawl's status, counters, age and short id take about 60; the start URL gets
what is left and is cut with an ellipsis, never the id, which other commands take back
(:mod:`crawl_api.cli.ids`). Ages are short (``5m ago``), as ``docker ps`` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from crawl_api.cli.ids import short_ids

__all__ = ["COLUMNS", "age", "crawl_table"]

COLUMNS = ("id", "status", "fetched", "failed", "skipped", "created", "url")
_NUMERIC = frozenset({"fetched", "failed", "skipped"})
_GAP = 2  # spaces between columns
_MIN_URL = 12


def age(created_at: str | None, now: datetime) -> str:
    """How long before ``now`` ``created_at`` (ISO 8601) was, in its largest whole unit:
    ``42s ago``, ``5m ago``, ``3h ago``, ``12d ago``; ``-`` if unknown."""
    if not created_at:
        return "-"
    try:
        then = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    seconds = max(int((now - then).total_seconds()), 0)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _row(job: Mapping[str, Any], shown_id: str, now: datetime) -> tuple[str, ...]:
    c = job.get("counters") or {}
    return (
        shown_id,
        str(job.get("status")),
        str(c.get("fetched", 0)),
        str(c.get("failed", 0)),
        str(c.get("skipped", 0)),
        age(job.get("created_at"), now),
        str(job.get("url") or ""),
    )


def crawl_table(
    jobs: Sequence[Mapping[str, Any]], *, width: int, now: datetime, whole_ids: bool = False
) -> Table:
    """The crawls (views of the job list) in ``width`` columns: every column but the URL as
    wide as its widest value, the URL in what is left. Ids are short unless ``whole_ids``."""
    ids = [str(job.get("id")) for job in jobs]
    shown = {i: i for i in ids} if whole_ids else short_ids(ids)
    rows = [_row(job, shown[i], now) for job, i in zip(jobs, ids, strict=True)]
    fixed = [max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(COLUMNS)]
    url_width = max(width - sum(fixed[:-1]) - _GAP * (len(COLUMNS) - 1), _MIN_URL)
    table = Table(box=None, padding=(0, _GAP // 2), pad_edge=False, header_style="bold")
    for name, size in zip(COLUMNS, [*fixed[:-1], url_width], strict=True):
        table.add_column(
            name,
            justify="right" if name in _NUMERIC else "left",
            no_wrap=True,
            overflow="ellipsis",
            min_width=None if name == "url" else size,
            max_width=size,
        )
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # no markup: URLs may hold [brackets]
    return table
