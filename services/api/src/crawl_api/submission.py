"""Submitting a crawl: the one path behind ``POST /api/v1/crawls`` and the seed's start route.

Order matters: the tenant's cap is checked, the idempotency key (if any) claimed, the job's
command published with confirms, and only then the job recorded as ``pending``. The answer
waits for both, so the job is readable the instant its id is returned, and a record always
stands for a command the broker holds: nothing is recorded that would have to be undone or
relayed later. If the broker refuses, the claim is released and the caller gets a 503. If only
the record fails, the command still makes the job (the status service creates its document
from the command), so the caller gets its 202. Once the broker holds the command the claim is
kept whatever happens next, even if the request is cancelled: a retry with the same key must
find the job that command makes, not start another.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from pymongo.errors import DuplicateKeyError

from crawl_api.auth import Principal
from crawl_api.errors import ServiceUnavailable, TooManyRequests
from crawl_api.idempotency import IdempotencyKeyReused, IdempotencyStore, fingerprint
from crawl_api.publisher import CommandPublisher, PublishError
from crawl_api.reads import ReadStore
from crawl_api.recrawls import check_since
from crawl_api.store import JobStore
from crawl_contracts import CrawlRequest, CrawlRequested
from crawl_contracts.envelope import utcnow

__all__ = ["Submitted", "Submitter"]

log = structlog.get_logger("crawl_api")


@dataclass(frozen=True, slots=True)
class Submitted:
    job_id: str
    replayed: bool  # an earlier submission with the same Idempotency-Key


class Submitter:
    def __init__(
        self,
        jobs: JobStore,
        reads: ReadStore,
        keys: IdempotencyStore,
        publisher: CommandPublisher,
        *,
        max_running: int,
        retry_after: int,
        cap_refresh: float = 1.0,
        on_submitted: Callable[[str], None] | None = None,
    ) -> None:
        self._jobs = jobs
        self._reads = reads
        self._keys = keys
        self._publisher = publisher
        self._max_running = max_running
        self._retry_after = retry_after
        self._cap_refresh = cap_refresh
        self._counts: dict[str, tuple[int, float]] = {}  # tenant -> (unfinished, counted at)
        self._on_submitted = on_submitted  # shares the submission with other API processes

    async def submit(
        self,
        principal: Principal,
        request: CrawlRequest,
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> Submitted:
        job_id = str(uuid.uuid4())
        if idempotency_key is not None:
            digest = fingerprint(_fingerprinted(request))
            claim = await self._keys.claim(
                principal.tenant, idempotency_key, digest, job_id, utcnow()
            )
            if not claim.fresh:
                if not claim.same_body:
                    raise IdempotencyKeyReused(
                        "this Idempotency-Key was used with a different request body"
                    )
                return Submitted(claim.job_id, replayed=True)
        published = False
        try:
            await check_since(self._jobs, principal, request)
            await self._check_cap(principal)
            command = await self._publish(principal, request, job_id, correlation_id)
            published = True  # the broker holds the command: the key stays with its job
            await self._record(command)
        except BaseException:
            if idempotency_key is not None and not published:
                await self._keys.release(principal.tenant, idempotency_key, job_id)
            raise
        return Submitted(job_id, replayed=False)

    async def _unfinished(self, tenant: str, *, fresh: bool = False) -> int:
        """The tenant's unfinished jobs: counted at most once per ``cap_refresh`` seconds (a
        count is a scan on servers without a usable index), plus this process's submissions
        since, and other API processes' as their usage shares arrive (``crawl_api.usage``): the
        cap holds across processes to within one share interval.
        ``fresh`` counts again whatever the cache holds."""
        now = time.monotonic()
        cached = self._counts.get(tenant)
        if fresh or cached is None or now - cached[1] >= self._cap_refresh:
            count = await self._reads.count_unfinished(tenant)
            self._counts[tenant] = (count, now)
            return count
        return cached[0]

    def count_elsewhere(self, tenant: str, jobs: int) -> None:
        """``jobs`` more unfinished jobs of ``tenant``, submitted since its last count (by
        this process, or by another one whose usage share says so)."""
        count, at = self._counts.get(tenant, (0, time.monotonic()))
        self._counts[tenant] = (count + jobs, at)

    async def _check_cap(self, principal: Principal) -> None:
        if self._max_running == 0:  # no cap configured
            return
        running = await self._unfinished(principal.tenant)
        if running >= self._max_running:
            # Never refuse on a stale count: jobs may have finished since it was taken.
            running = await self._unfinished(principal.tenant, fresh=True)
        if running >= self._max_running:
            raise TooManyRequests(
                f"the tenant has {running} unfinished jobs, the most it may have at once",
                headers={"Retry-After": str(max(self._retry_after, 5))},
                limit=self._max_running,
            )

    async def _publish(
        self,
        principal: Principal,
        request: CrawlRequest,
        job_id: str,
        correlation_id: str | None,
    ) -> CrawlRequested:
        """Publish the job's command with confirms; a refusal is a ``503`` problem."""
        command = CrawlRequested(
            job_id=job_id,
            tenant=principal.tenant,
            request=request,
            submitted_by=principal.user,
            correlation_id=correlation_id,
        )
        self.count_elsewhere(principal.tenant, 1)
        if self._on_submitted is not None:
            self._on_submitted(principal.tenant)
        try:
            await self._publisher.publish(command)
        except PublishError as exc:
            log.warning("crawl.publish_failed", job_id=job_id, error=str(exc))
            raise ServiceUnavailable(
                "the message broker did not accept the job; nothing was recorded, retry later",
                headers={"Retry-After": "5"},
            ) from exc
        return command

    async def _record(self, command: CrawlRequested) -> None:
        """Record the job as ``pending``, so it is readable the instant its id is returned.
        A failure is logged, not raised: the status service makes the document from the
        command the broker holds."""
        try:
            await self._jobs.record_pending(command)
        except DuplicateKeyError:
            pass  # the status service projected the command first
        except Exception as exc:
            log.warning("crawl.record_failed", job_id=command.job_id, error=str(exc))
        log.info("crawl.accepted", job_id=command.job_id, url=command.request.url)


# Optional fields added to requests after keys were first fingerprinted: left out while unset,
# so a key claimed before a field existed still matches a retry of the same body after.
_LATER_OPTIONAL = ("since",)


def _fingerprinted(request: CrawlRequest) -> dict[str, Any]:
    body = request.model_dump(mode="json")
    for name in _LATER_OPTIONAL:
        if body.get(name) is None:
            body.pop(name, None)
    return body
