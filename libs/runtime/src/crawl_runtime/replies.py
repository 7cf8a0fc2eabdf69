"""The serving side of request/reply over the broker (a renderer answering a crawler, a
crawler extracting for another): every request is read the same way and answered the same way.

``accepted`` validates a delivered request: an unparseable one, or one without ``reply_to``,
is dead-lettered with the reason (``crawl_runtime.deadletters``) and ``None`` is returned;
otherwise the request and where to answer it. ``answer`` publishes the reply straight to the
asker's queue (not mandatory: an asker that went away has no queue any more) and logs, never
raises, when it cannot.
"""

from __future__ import annotations

from typing import TypeVar

import structlog
from faststream.rabbit import RabbitBroker
from faststream.rabbit.message import RabbitMessage
from pydantic import BaseModel, ValidationError

from crawl_contracts import Envelope
from crawl_runtime.deadletters import dead_letter

__all__ = ["accepted", "answer"]

log = structlog.get_logger("crawl_runtime.replies")

RequestT = TypeVar("RequestT", bound=Envelope)


async def accepted(
    broker: RabbitBroker, message: RabbitMessage, queue: str, model: type[RequestT], what: str
) -> tuple[RequestT, str] | None:
    """The request ``message`` carries and its ``reply_to``; ``None`` once a bad one went to
    ``queue``'s dead letters with why (``what`` names it there, e.g. "a render request")."""
    try:
        request = model.model_validate_json(message.body)
    except ValidationError as exc:
        await dead_letter(broker, message, queue, f"unparseable: {exc}"[:1000])
        return None
    reply_to = message.raw_message.reply_to
    if not reply_to:
        await dead_letter(broker, message, queue, f"{what} without reply_to")
        return None
    return request, reply_to


async def answer(
    broker: RabbitBroker, message: RabbitMessage, reply_to: str, reply: BaseModel, url: str
) -> None:
    """Send ``reply`` to the asker's queue, matched by the request's correlation id."""
    kind = str(getattr(reply, "type", type(reply).__name__))
    try:
        await broker.publish(
            reply.model_dump_json().encode(),
            exchange="",
            routing_key=reply_to,
            correlation_id=message.correlation_id,
            content_type="application/json",
            message_type=kind,
            mandatory=False,  # an asker that stopped waiting has no queue any more
        )
    except Exception as exc:
        log.warning("reply.failed", type=kind, url=url[:300], error=str(exc)[:300])
