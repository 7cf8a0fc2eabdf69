"""Recording dead letters against their jobs (refusing a message with a reason is
:func:`crawl_runtime.deadletters.dead_letter`).

``status.dead-letters`` receives a copy of everything dead-lettered from the work
queues (the dead-letter queues themselves keep theirs for inspection and replay). Each becomes
a ``crawl_dead_letters`` document, filed under its job when the body names one. A crawl command
that died this way will never run, so its job, if not finished, is failed with
``error_code="dead_lettered"`` rather than left ``pending`` for ever.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crawl_contracts import STATUS_SEQ, TERMINAL_STATUSES, CrawlFailed, Envelope, routing
from crawl_schema import names

__all__ = ["DeadLetterRecorder", "death_reason"]

log = structlog.get_logger("crawl_status.deadletters")

_COMMANDS = {"CrawlRequested", "CrawlResumeRequested"}


def death_reason(headers: dict[str, Any]) -> tuple[str, str | None]:
    """(reason, queue) of a dead letter: ours if present, else RabbitMQ's ``x-death``."""
    reason = headers.get(routing.DEAD_LETTER_REASON_HEADER)
    queue = headers.get(routing.DEAD_LETTER_QUEUE_HEADER)
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        reason = reason or f"{deaths[0].get('reason')}"
        queue = queue or deaths[0].get("queue")
    return (str(reason) if reason else "unknown", str(queue) if queue else None)


def _readable(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class DeadLetterRecorder:
    """Files dead letters in ``crawl_dead_letters`` and fails jobs whose command died."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        publish: Callable[[Envelope], Awaitable[None]],
    ) -> None:
        self.records = database[names.DEAD_LETTERS]
        self.crawls = database[names.CRAWLS]
        self._publish = publish

    async def record(
        self, body: bytes, headers: dict[str, Any], message_id: str | None, now: datetime
    ) -> None:
        reason, queue = death_reason(headers)
        fields = _readable(body)
        job_id = fields.get("job_id") if isinstance(fields.get("job_id"), str) else None
        key = message_id or hashlib.sha256(body).hexdigest()[:32]
        document = {
            "_id": f"{queue}:{key}",
            "job_id": job_id,
            "queue": queue,
            "reason": reason,
            "type": fields.get("type") if isinstance(fields.get("type"), str) else None,
            "body": body[:2000].decode("utf-8", "replace"),
            "at": now,
        }
        try:
            await self.records.insert_one(document)
        except DuplicateKeyError:
            return  # recorded already (redelivered copy)
        log.warning("dead_letter.recorded", job_id=job_id, queue=queue, reason=reason[:300])
        if (
            job_id is None
            or document["type"] not in _COMMANDS
            or queue != routing.CRAWLER_REQUESTS_QUEUE  # elsewhere the crawler still has it
        ):
            return
        # No document yet is no reason to stop: the API records a job once the broker
        # confirmed its command, which can be after a crawler refused it. The failure then
        # creates the document (the API's record finds it there, the command's projection
        # adds the request).
        job = await self.crawls.find_one({"_id": job_id}) or {}
        tenant = job.get("tenant") or fields.get("tenant")
        if not isinstance(tenant, str) or job.get("status") in TERMINAL_STATUSES:
            return
        attempt = fields.get("attempt")
        await self._publish(
            CrawlFailed(
                job_id=job_id,
                tenant=tenant,
                attempt=max(int(job.get("attempt", 1)), attempt if isinstance(attempt, int) else 1),
                seq=STATUS_SEQ,
                error_code="dead_lettered",
                error=f"the crawl command was dead-lettered from {queue}: {reason}"[:1000],
            )
        )
