"""Coalescing of identical concurrent reads ("single flight").

Many pollers of one job ask for the same small document at once; instead of one database
round trip each, callers that arrive while a read of the same key is in flight share its
result. A shared result is at most one round trip older than the caller's request, which is
within what a poller can observe anyway; nothing is cached once the read completes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Future[T]] = {}

    async def run(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        pending = self._calls.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls[key] = future
        try:
            result = await read()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: joiners re-raise it, nobody else must
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._calls[key]
