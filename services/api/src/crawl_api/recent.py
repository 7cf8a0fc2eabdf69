"""Job documents read recently, or received with a change notice, served until they change.

Status polls are most of an API's traffic, and most polls ask about a job that has not
changed since the previous one. The status service publishes a change notice after every
write of a job document (``crawl_api.changes``), carrying the document as written. This
cache keeps each document read until a notice for its job arrives, then keeps the notice's
document instead (never an older version over a newer one); an entry lives ``ttl`` seconds
at most. The ``ttl`` bounds what a lost notice can cost: the same bound the long poll's
fallback read accepts (``CRAWL_API_STATUS_CACHE_SECONDS``, 1 s by default; 0 turns the
cache off).

So an entry is never older than the last notice received for its job: nothing is served
from here while the change feed is down, and a read that was in flight when any notice
arrived is not stored (its result may predate that change).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["RecentJobs"]


class RecentJobs:
    def __init__(
        self,
        ttl: float,
        *,
        live: Callable[[], bool] = lambda: True,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._live = live  # whether change notices are arriving
        self._max = max_entries
        self._clock = clock
        self._docs: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._epoch = 0  # bumped by every notice
        # The highest version of each job this process has read or been sent: a late notice
        # or a slow read never brings an older one back.
        self._floor: OrderedDict[str, int] = OrderedDict()

    def get(self, job_id: str) -> dict[str, Any] | None:
        entry = self._docs.get(job_id)
        if entry is None:
            return None
        if not self._live() or self._clock() - entry[0] >= self._ttl:
            del self._docs[job_id]
            return None
        return entry[1]

    def token(self) -> int:
        """Take before a read; pass to :meth:`put` with its result."""
        return self._epoch

    def seen(self, job_id: str, version: int) -> bool:
        """Note that ``version`` of ``job_id`` was read or sent; whether it is the newest."""
        floor = self._floor.get(job_id, -1)
        if version > floor:
            self._floor[job_id] = version
            self._floor.move_to_end(job_id)
            while len(self._floor) > self._max:
                self._floor.popitem(last=False)
        return version >= floor

    def put(self, job_id: str, doc: dict[str, Any], token: int) -> None:
        """Keep ``doc``, unless a notice arrived since ``token`` was taken or a newer
        version of the job was seen."""
        if not self.seen(job_id, int(doc.get("version", 0))):
            return
        if self._ttl <= 0 or token != self._epoch or not self._live():
            return
        self._docs[job_id] = (self._clock(), doc)
        self._docs.move_to_end(job_id)
        if len(self._docs) > self._max:
            self._docs.popitem(last=False)

    def clear(self) -> None:
        """Forget every document (notices may have been lost: the feed was down)."""
        self._epoch += 1
        self._docs.clear()

    def drop(self, job_id: str) -> None:
        """This process's own write of ``job_id``, or a notice without its document."""
        self._epoch += 1
        self._docs.pop(job_id, None)

    def noticed(self, job_id: str, document: dict[str, Any] | None) -> None:
        """A change notice: keep the document it carries (unless a newer one is kept)."""
        if document is None:
            self.drop(job_id)
            return
        self._epoch += 1
        if not self.seen(job_id, int(document.get("version", 0))):
            return  # late: a newer version was read or sent already
        self._docs.pop(job_id, None)
        self.put(job_id, document, self._epoch)
