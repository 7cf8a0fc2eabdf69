"""Asking for a crawl to stop: the one path behind ``DELETE /api/v1/crawls/{job_id}``, the
dashboard's Cancel button and the seed's run cancel.

The API publishes ``CrawlCancelRequested`` (confirmed): the status service turns the job
``cancelling``, every crawler instance hears the broadcast, and the one running it stops and
reports exactly one ``CrawlCancelled``. A job no crawler has started yet is cancelled when one
claims it, or by the status service if none does. A finished job is a ``409``; another
tenant's job is a ``404``. Pages crawled before the cancel stay readable.
"""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict

from crawl_api.auth import Principal
from crawl_api.errors import Conflict, NotFound, ServiceUnavailable
from crawl_api.publisher import CommandPublisher, PublishError
from crawl_api.store import JobStore
from crawl_contracts import TERMINAL_STATUSES, CrawlCancelRequested, JobStatus

__all__ = ["Canceller", "CrawlCancelAccepted"]

log = structlog.get_logger("crawl_api")


class CrawlCancelAccepted(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    status: str


class Canceller:
    """Cancels the caller's jobs: checks them in ``store``, publishes through ``publisher``."""

    def __init__(self, store: JobStore, publisher: CommandPublisher) -> None:
        self._store = store
        self._publisher = publisher

    async def cancel(
        self, principal: Principal, job_id: str, *, correlation_id: str | None = None
    ) -> CrawlCancelAccepted:
        """Ask for the caller's unfinished job ``job_id`` to stop: ``NotFound`` when the
        caller has no such job, ``Conflict`` once it has finished, ``ServiceUnavailable`` when
        the broker does not confirm the command."""
        doc: dict[str, Any] | None = await self._store.get(job_id, principal.tenant)
        if doc is None:
            raise NotFound(f"no crawl {job_id}")
        if doc["status"] in TERMINAL_STATUSES:
            raise Conflict(
                f"crawl {job_id} has already finished ({doc['status']})", job_status=doc["status"]
            )
        await self.publish(
            principal, job_id, attempt=int(doc.get("attempt", 1)), correlation_id=correlation_id
        )
        return CrawlCancelAccepted(id=job_id, status=JobStatus.CANCELLING.value)

    async def publish(
        self,
        principal: Principal,
        job_id: str,
        *,
        attempt: int = 1,
        correlation_id: str | None = None,
    ) -> CrawlCancelRequested:
        """Publish ``CrawlCancelRequested`` with confirms, unchecked (the caller knows the job
        is the principal's). A broker that does not confirm is a ``503`` problem."""
        command = CrawlCancelRequested(
            job_id=job_id,
            tenant=principal.tenant,
            requested_by=principal.user,
            attempt=attempt,
            correlation_id=correlation_id,
        )
        try:
            await self._publisher.publish(command)
        except PublishError as exc:
            log.warning("crawl.cancel_publish_failed", job_id=job_id, error=str(exc))
            raise ServiceUnavailable(
                "the message broker did not accept the cancel request; retry later",
                headers={"Retry-After": "5"},
            ) from exc
        log.info("crawl.cancel_requested", job_id=job_id, message_id=command.message_id)
        return command
