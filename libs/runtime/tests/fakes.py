"""Hand-written stand-ins for FastStream's broker and a received message."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitMessage, RabbitQueue


class Broker:
    """Records what is published and declared; ``fail`` makes publishing raise it."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.published: list[tuple[bytes, dict[str, Any]]] = []
        self.exchanges: list[RabbitExchange] = []
        self.queues: list[RabbitQueue] = []
        self.bindings: list[tuple[str, str, str]] = []
        self._fail = fail

    async def publish(self, body: bytes, **options: Any) -> None:
        if self._fail is not None:
            raise self._fail
        self.published.append((body, options))

    async def declare_exchange(self, exchange: RabbitExchange) -> Any:
        self.exchanges.append(exchange)
        return SimpleNamespace(name=exchange.name)

    async def declare_queue(self, queue: RabbitQueue) -> Any:
        self.queues.append(queue)
        bindings = self.bindings

        async def bind(exchange: Any, *, routing_key: str) -> None:
            bindings.append((queue.name, exchange.name, routing_key))

        return SimpleNamespace(bind=bind)

    def as_broker(self) -> RabbitBroker:
        return cast("RabbitBroker", self)


class Message:
    """A received message: its raw AMQP message, and how it was settled."""

    def __init__(self, body: bytes = b'{"type": "CrawlRequested"}', **properties: Any) -> None:
        self.raw_message = SimpleNamespace(
            body=body,
            headers=properties.get("headers"),
            message_id=properties.get("message_id", "m-1"),
            correlation_id=properties.get("correlation_id", "c-1"),
            content_type=properties.get("content_type", "application/json"),
            type=properties.get("type", "CrawlRequested"),
        )
        self.settled: list[str] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def reject(self) -> None:
        self.settled.append("reject")

    def as_message(self) -> RabbitMessage:
        return cast("RabbitMessage", self)
