"""Limits that hold across API processes: each process shares what it admitted, a few times a
second, and takes what the others admitted off its own rate-limit buckets and tenant counts.

Each process counts, between two shares, the requests it admitted per rate-limit key and the
jobs it submitted per tenant; every ``interval`` seconds it publishes them (``ApiUsage``,
non-persistent) on the ``crawl.api.usage`` fanout exchange and starts counting afresh. It
consumes the others' shares on an exclusive, auto-delete queue of its own and applies them:
``RateLimiter.deduct`` for requests, ``Submitter.count_elsewhere`` for submissions. So N
processes together admit what one would, plus at most what each admits in one interval before
the others hear of it. Without the broker the limits hold per process: a failed share is
logged once per outage and its counts are kept for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from typing import Protocol

import aio_pika
import structlog
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError

from crawl_api.ratelimit import RateLimiter
from crawl_contracts.usage import USAGE_EXCHANGE, ApiUsage

__all__ = ["UsageShare"]

log = structlog.get_logger("crawl_api.usage")

_QUEUE_LIMIT = 10_000  # shares kept while this process is slow; the oldest go first


class SubmissionCounts(Protocol):
    """What a share's submissions are applied to (``Submitter``)."""

    def count_elsewhere(self, tenant: str, jobs: int) -> None: ...


class UsageShare:
    def __init__(
        self,
        url: str,
        limiter: RateLimiter,
        *,
        interval: float,
        process: str | None = None,
    ) -> None:
        self._url = url
        self._limiter = limiter
        self._interval = interval
        self.process = process or uuid.uuid4().hex
        self._requests: Counter[str] = Counter()
        self._submissions: Counter[str] = Counter()
        self._counts: SubmissionCounts | None = None
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._sharing: asyncio.Task[None] | None = None
        self._failing = False

    def admitted(self, key: str) -> None:
        """A request admitted for rate-limit ``key`` (shared with the next share)."""
        self._requests[key] += 1

    def submitted(self, tenant: str) -> None:
        """A job submitted for ``tenant`` (shared with the next share)."""
        self._submissions[tenant] += 1

    async def start(self, counts: SubmissionCounts) -> None:
        self._counts = counts
        self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._connection.channel()
        self._exchange = await channel.declare_exchange(
            USAGE_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await channel.declare_queue(
            exclusive=True,
            auto_delete=True,
            arguments={"x-max-length": _QUEUE_LIMIT, "x-overflow": "drop-head"},
        )
        await queue.bind(self._exchange)
        await queue.consume(self._on_message, no_ack=True)
        self._sharing = asyncio.create_task(self._share_every(), name="usage-share")

    async def close(self) -> None:
        if self._sharing is not None:
            self._sharing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sharing
        if self._connection is not None:
            await self._connection.close()

    async def share(self) -> None:
        """Publish what was admitted since the last share (nothing if nothing was)."""
        if (not self._requests and not self._submissions) or self._exchange is None:
            return
        requests, submissions = self._requests, self._submissions
        self._requests, self._submissions = Counter(), Counter()
        usage = ApiUsage(
            process=self.process, requests=dict(requests), submissions=dict(submissions)
        )
        try:
            await self._exchange.publish(
                aio_pika.Message(usage.model_dump_json().encode(), content_type="application/json"),
                routing_key="",
            )
        except Exception as exc:
            self._requests.update(requests)  # kept for the next share
            self._submissions.update(submissions)
            if not self._failing:
                log.warning("usage.share_failed", error=str(exc))
            self._failing = True
            return
        if self._failing:
            log.info("usage.share_resumed")
        self._failing = False

    def receive(self, body: bytes) -> None:
        """Apply another process's share; an unreadable one is logged and dropped."""
        try:
            usage = ApiUsage.model_validate_json(body)
        except ValidationError:
            log.warning("usage.unreadable", body=body[:200])
            return
        if usage.process == self.process:
            return
        for key, count in usage.requests.items():
            self._limiter.deduct(key, count)
        if self._counts is not None:
            for tenant, jobs in usage.submissions.items():
                self._counts.count_elsewhere(tenant, jobs)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self.receive(message.body)

    async def _share_every(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.share()
            except Exception:  # the loop must outlive any one share
                log.exception("usage.share_crashed")
