"""Group commit: concurrent writes merged into one round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = ["GroupCommit", "Outcomes", "settle"]

# Each document's outcome of a write (None: written), or None when all of them were written.
Outcomes = Sequence[BaseException | None] | None


class GroupCommit:
    """Merges concurrent writes into one: callers that arrive while a write is in flight go
    out together in the next one (none waits for a timer).

    ``write`` stores a list of documents. It may return each document's outcome: a caller
    then gets the first error among its own documents. When a merged write raises, each
    caller's documents are written again on their own, so only the caller whose documents
    fail gets the error."""

    def __init__(self, write: Callable[[list[dict[str, Any]]], Awaitable[Outcomes]]) -> None:
        self._write = write
        self._queued: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, documents: list[dict[str, Any]]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((documents, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self._queued:
                group, self._queued = self._queued, []
                try:
                    await self._commit(group)
                except BaseException as exc:  # cancelled: so is every caller of the group
                    settle(group, exc)
                    raise
        finally:
            # No await between the empty check above and this: no caller is left waiting
            # (unless the writer itself was cancelled: then so is every queued caller).
            self._writer = None
            for _, done in self._queued:
                done.cancel()
            self._queued = []

    async def _commit(self, group: list[tuple[list[dict[str, Any]], asyncio.Future[None]]]) -> None:
        try:
            outcomes = await self._write([doc for documents, _ in group for doc in documents])
        except Exception as failed:
            if len(group) == 1:
                settle(group, failed)
                return
            # One caller's documents may be what failed: each caller alone, so the others'
            # do not fail with it.
            for one in group:
                try:
                    _settle_each([one], await self._write(one[0]))
                except Exception as exc:
                    settle([one], exc)
        else:
            _settle_each(group, outcomes)


def _settle_each(
    group: list[tuple[list[dict[str, Any]], asyncio.Future[None]]], outcomes: Outcomes
) -> None:
    """Resolve each caller's future with the first error among its documents' outcomes."""
    start = 0
    for documents, done in group:
        mine = outcomes[start : start + len(documents)] if outcomes is not None else ()
        start += len(documents)
        settle([(documents, done)], next((e for e in mine if e is not None), None))


def settle(
    group: Sequence[tuple[object, asyncio.Future[None]]],
    error: BaseException | None = None,
) -> None:
    """Resolve each caller's future (those not resolved yet): with ``error``, if given."""
    for _, done in group:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
