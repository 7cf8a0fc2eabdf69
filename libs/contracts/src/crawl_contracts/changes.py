"""Change notices: "job X's document changed", from the status service to API processes.

Not a domain message (no envelope, not on the ``crawl`` exchange, never stored): a transient
hint on a fanout exchange of its own, so a long poll can answer the moment the document it
waits on was written instead of on its next database read. A notice may be lost (a restart,
a full queue); readers keep a slower database poll as the safety net.

``document`` is the job document exactly as written at ``version`` (BSON, base64): a reader
may serve it instead of reading the document back, as long as it never lets it replace a
newer version it holds. ``status`` is informative only.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict

__all__ = ["CHANGES_EXCHANGE", "JobChanged"]

# Fanout, durable exchange; notices are published non-persistent. Each API process binds an
# exclusive, auto-delete queue of its own.
CHANGES_EXCHANGE: Final = "crawl.changes"


class JobChanged(BaseModel):
    """A job's document was written (not sent for writes of its pages or logs alone, nor for
    writes that change nothing a reader sees)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    version: int | None = None  # the job document's version after the write
    status: str | None = None
    document: str | None = None  # the document as written at ``version``: BSON, base64
