"""``DELETE /api/v1/crawls/{job_id}``: ask for a crawl to stop.

The API publishes ``CrawlCancelRequested`` (confirmed) and answers ``202``: the status service
turns the job ``cancelling``, every crawler instance hears the broadcast, and the one running it
stops and reports exactly one ``CrawlCancelled``. A job no crawler has started yet is cancelled
when one claims it, or by the status service if none does. A finished job is a ``409``;
another tenant's job is a ``404``. Pages crawled before the cancel stay readable.
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Controller, Request, Response, delete
from litestar.datastructures import State
from pydantic import BaseModel, ConfigDict

from crawl_api.auth import Principal
from crawl_api.errors import Conflict, NotFound, ServiceUnavailable
from crawl_api.publisher import CommandPublisher, PublishError
from crawl_api.store import JobStore
from crawl_contracts import TERMINAL_STATUSES, CrawlCancelRequested, JobStatus

__all__ = ["CancelController", "CrawlCancelAccepted", "publish_cancel"]

log = structlog.get_logger("crawl_api")


class CrawlCancelAccepted(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    status: str


class CancelController(Controller):
    path = "/api/v1/crawls"
    tags = ["crawls"]

    # The parameter has its own name: Litestar 2 refuses two controllers whose handlers share
    # one path string (each would add an OPTIONS handler); the URLs are the same.
    @delete(
        "/{crawl_id:str}",
        status_code=202,
        summary="Cancel a crawl",
        description=(
            "Publishes CrawlCancelRequested and answers at once; the job goes `cancelling`, then "
            "`cancelled`. 409 once the job has finished."
        ),
    )
    async def cancel(
        self, crawl_id: str, principal: Principal, state: State, request: Request[Any, Any, Any]
    ) -> Response[CrawlCancelAccepted]:
        job_id = crawl_id
        store: JobStore = state.store
        publisher: CommandPublisher = state.publisher
        doc = await store.get(job_id, principal.tenant)
        if doc is None:
            raise NotFound(f"no crawl {job_id}")
        if doc["status"] in TERMINAL_STATUSES:
            raise Conflict(
                f"crawl {job_id} has already finished ({doc['status']})", job_status=doc["status"]
            )
        await publish_cancel(
            publisher,
            principal,
            job_id,
            attempt=int(doc.get("attempt", 1)),
            correlation_id=request.headers.get("x-request-id"),
        )
        return Response(
            CrawlCancelAccepted(id=job_id, status=JobStatus.CANCELLING.value),
            status_code=202,
            headers={"Location": f"{self.path}/{job_id}"},
        )


async def publish_cancel(
    publisher: CommandPublisher,
    principal: Principal,
    job_id: str,
    *,
    attempt: int = 1,
    correlation_id: str | None = None,
) -> CrawlCancelRequested:
    """Publish ``CrawlCancelRequested`` with confirms: the one way every route (REST, seed,
    dashboard) asks for a stop. A broker that does not confirm is a ``503`` problem."""
    command = CrawlCancelRequested(
        job_id=job_id,
        tenant=principal.tenant,
        requested_by=principal.user,
        attempt=attempt,
        correlation_id=correlation_id,
    )
    try:
        await publisher.publish(command)
    except PublishError as exc:
        log.warning("crawl.cancel_publish_failed", job_id=job_id, error=str(exc))
        raise ServiceUnavailable(
            "the message broker did not accept the cancel request; retry later",
            headers={"Retry-After": "5"},
        ) from exc
    log.info("crawl.cancel_requested", job_id=job_id, message_id=command.message_id)
    return command
