"""Change notices from the status service, so long polls answer when the job changes.

FerretDB has no change streams, and a long poll that re-reads the job every
``poll_interval`` answers on average half an interval late. The status service publishes a
notice on the ``crawl.changes`` fanout exchange after every write of a job document that a
reader can see, carrying the document as written; each API process consumes them on an
exclusive, auto-delete queue of its own, hands the document to its listeners (the recently
read documents, ``crawl_api.recent``) and wakes the requests waiting on that job. Notices
can be lost (a broker restart, this queue overflowing), so waiters keep a slower database
poll as a safety net (``changes_poll_interval``, or ``poll_interval`` while the feed is
down).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from bson import CodecOptions, decode
from bson.errors import InvalidBSON
from pydantic import ValidationError

from crawl_contracts import CHANGES_EXCHANGE, JobChanged

__all__ = ["ChangeFeed", "Watch"]

log = structlog.get_logger("crawl_api.changes")

_AS_STORED: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)  # as a read returns it
_QUEUE_LIMIT = 10_000  # notices kept while this process is slow; the oldest go first


class Watch:
    """One waiter's view of one job: set by every notice for that job."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a notice; whether one came. A notice that arrived
        since the previous ``wait`` returns at once. Clears the watch."""
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True


class ChangeFeed:
    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: AbstractRobustConnection | None = None
        self._watches: dict[str, set[Watch]] = {}
        self._listeners: list[Callable[[str, dict[str, Any] | None], None]] = []
        self._reconnected: list[Callable[[], None]] = []

    @property
    def connected(self) -> bool:
        """Whether notices can arrive now (false while a robust connection reconnects)."""
        connection = self._connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the feed is back after an outage (notices were lost)."""
        self._reconnected.append(callback)

    def reconnected(self) -> None:
        """The connection is back after an outage: tell the ``on_reconnect`` callbacks."""
        log.info("change_feed.reconnected")
        for callback in self._reconnected:
            callback()

    def _resumed(self, *_: Any) -> None:  # aio-pika passes the connection
        self.reconnected()

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url)
        self._connection.reconnect_callbacks.add(self._resumed)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            CHANGES_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await channel.declare_queue(
            exclusive=True,
            auto_delete=True,
            arguments={"x-max-length": _QUEUE_LIMIT, "x-overflow": "drop-head"},
        )
        await queue.bind(exchange)
        await queue.consume(self._on_message, no_ack=True)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[Watch]:
        """Register a waiter on ``job_id`` for the duration of the block. Register before
        reading the document: a notice for a write after that read then wakes the waiter."""
        watch = Watch()
        self._watches.setdefault(job_id, set()).add(watch)
        try:
            yield watch
        finally:
            watches = self._watches.get(job_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[job_id]

    @property
    def watched(self) -> frozenset[str]:
        """The jobs some waiter is registered on now."""
        return frozenset(self._watches)

    def listen(self, listener: Callable[[str, dict[str, Any] | None], None]) -> None:
        """Call ``listener(job_id, document)`` on every notice, before waiters wake; the
        document as written, when the notice carries it."""
        self._listeners.append(listener)

    def notify(self, job_id: str, document: dict[str, Any] | None = None) -> None:
        for listener in self._listeners:
            listener(job_id, document)
        for watch in self._watches.get(job_id, ()):
            watch.set()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self.receive(message.body)

    def receive(self, body: bytes) -> None:
        """Handle one notice as the broker delivers it (a ``JobChanged`` in JSON): hand its
        document to the listeners and wake the job's waiters. An unreadable notice is logged
        and dropped."""
        try:
            change = JobChanged.model_validate_json(body)
            document = (
                decode(base64.b64decode(change.document), codec_options=_AS_STORED)
                if change.document is not None
                else None
            )
        except (ValidationError, ValueError, InvalidBSON):
            log.warning("change_notice.unreadable", body=body[:200])
            return
        if document is not None and (
            document.get("_id") != change.job_id or "version" not in document
        ):
            document = None  # not the document this notice is about: only drop the job
        self.notify(change.job_id, document)
