"""A crawl's durable state: what it journals as it goes, and what a resumed attempt rebuilds.

The crawl engine tells its :class:`Journal` of every change that matters to a resumed attempt,
at the moment it happens (no await in between, so the journal and the counters always agree):
a URL queued into the frontier, a URL known without being queued, a URL whose outcome was
counted (with the confirmation of its event, and its page's content hash). Every
``checkpoint_interval`` the runner *cuts* the journal (:meth:`crawl_worker.crawl.Crawl.cut`):
a :class:`Commit` holds what was journaled since the last cut, the counters at that instant and
the confirmations to wait for. Once every event it counts is confirmed by the broker (so each
outcome it names is in the ledger), the runner writes it as pieces of at most 256 KB
(``crawl_schema.state``) and names them in the lease; then it publishes the commit's counters
(a ``CrawlProgressed``). Published counters are therefore never ahead of what a resumed attempt
rebuilds: ``fetched``, ``failed`` and ``skipped`` never decrease, across any resume.

A URL in flight at the cut is stored as queued: a resumed attempt visits it again and records
it under the same key (the ledger keeps one record per URL). Skips counted at the cut but not
yet sent travel in the commit, and a resumed attempt sends them.

:meth:`CrawlState.restore` rebuilds a crawl from every committed piece, in order: the frontier
is the URLs queued and not done (breadth-first order kept), the seen-set every URL named (as
64-bit hashes: a million URLs take tens of megabytes).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crawl_contracts import Counters, SkippedUrl
from crawl_schema import COUNTER_FIELDS
from crawl_schema.keys import url_hash
from crawl_schema.state import StateDelta

__all__ = ["Commit", "CrawlState", "Journal", "StateBuilder"]


@dataclass(slots=True)
class CrawlState:
    """Where a crawl stands: what a resumed attempt starts from."""

    frontier: deque[tuple[str, int]] = field(default_factory=deque)
    seen: set[int] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_FIELDS, 0))
    skips: list[SkippedUrl] = field(default_factory=list)

    @classmethod
    def restore(cls, pieces: Iterable[dict[str, Any]]) -> CrawlState:
        """The state every committed piece adds up to (pieces in commit order)."""
        builder = StateBuilder()
        for piece in pieces:
            builder.add(piece)
        return builder.build()


class StateBuilder:
    """Adds up committed pieces one at a time (so they need not all be in memory at once)."""

    def __init__(self) -> None:
        self._state = CrawlState()
        self._queued: list[tuple[str, int]] = []
        self._done: set[int] = set()
        self._skips: list[dict[str, Any]] = []

    def add(self, piece: dict[str, Any]) -> None:
        state = self._state
        for url, depth in zip(piece.get("urls", ()), piece.get("depths", ()), strict=True):
            self._queued.append((url, int(depth)))
            state.seen.add(url_hash(url))
        state.seen.update(int(h) for h in piece.get("seen", ()))
        self._done.update(int(h) for h in piece.get("done", ()))
        state.hashes.update(piece.get("hashes", ()))
        self._skips.extend(piece.get("skips", ()))
        if piece.get("counters") is not None:  # the last piece of a commit
            state.counters = {k: int(piece["counters"].get(k, 0)) for k in COUNTER_FIELDS}
            state.skips = [SkippedUrl.model_validate(s) for s in self._skips]
            self._skips = []

    def build(self) -> CrawlState:
        done = self._done
        self._state.frontier = deque(item for item in self._queued if url_hash(item[0]) not in done)
        return self._state


@dataclass(slots=True)
class Commit:
    """A cut of the journal: to be stored once its events are confirmed."""

    delta: StateDelta
    published: Counters
    confirmations: list[asyncio.Future[None]]

    async def confirmed(self) -> None:
        """Wait until every event the commit counts is confirmed; raise if one was not."""
        if self.confirmations:
            await asyncio.wait(self.confirmations)
            for confirmation in self.confirmations:
                if confirmation.cancelled():
                    raise RuntimeError("an event of the commit was never published")
                error = confirmation.exception()
                if error is not None:
                    raise error


class Journal:
    """The changes of a crawl's state since the last cut (see the module doc)."""

    def __init__(self) -> None:
        self._delta = StateDelta()
        self._confirmations: list[asyncio.Future[None]] = []

    def queued(self, url: str, depth: int) -> None:
        self._delta.urls.append(url)
        self._delta.depths.append(depth)

    def seen(self, key: int) -> None:
        self._delta.seen.append(key)

    def recorded(
        self, key: int, content_hash: str | None, confirmation: asyncio.Future[None]
    ) -> None:
        """A queued URL's outcome was counted; its event is on its way."""
        self._delta.done.append(key)
        if content_hash:
            self._delta.hashes.append(content_hash)
        self._confirmations.append(confirmation)

    def settled(self, key: int) -> None:
        """A queued URL left the frontier as a batched skip (pending until its batch is
        confirmed: a cut stores the pending skips with it)."""
        self._delta.done.append(key)

    def sent(self, confirmation: asyncio.Future[None]) -> None:
        """An event the next commit counts (a batch of skips) is on its way."""
        self._confirmations.append(confirmation)

    def cut(self, stored: Counters, published: Counters, skips: list[SkippedUrl]) -> Commit:
        delta, self._delta = self._delta, StateDelta()
        confirmations, self._confirmations = self._confirmations, []
        delta.counters = stored.model_dump()
        delta.skips = [skip.model_dump() for skip in skips]
        return Commit(delta, published, confirmations)
