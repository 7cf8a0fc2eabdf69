"""Running claimed jobs: claim, restore, start, commit state, release.

A command's delivery is acknowledged as soon as its job is claimed *and* its first event
(``CrawlStarted``, or ``CrawlCancelled`` for a job cancelled before it started) is confirmed
by the broker, so a crawl of any length never holds a delivery past RabbitMQ's
``consumer_timeout``. From then on the lease is what keeps the job: its :class:`Keeper`
commits the crawl's durable state and renews the lease every ``checkpoint_interval``, and gives
the job up when it cannot (``keeper.py``). If this process dies, its heartbeats stop, the
status service declares the job stalled and asks for the next attempt, which another worker
claims (once this one's lease ran out) and resumes from the committed pieces.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import structlog

from crawl_contracts import CrawlRequest, CrawlRequested, CrawlResumeRequested
from crawl_contracts.envelope import utcnow
from crawl_worker import observability
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.keeper import Keeper
from crawl_worker.lease import Claim, ClaimState, LeaseGate, LeaseStore
from crawl_worker.settings import WorkerSettings

__all__ = ["Delivery", "JobRunner"]

log = structlog.get_logger("crawl_worker.runner")

_HEARD_CANCELS = 10_000  # cancel broadcasts remembered, newest kept


class Delivery:
    """What to do with the command's delivery."""

    ACK = "ack"  # claimed and started, or nothing to do
    RETRY = "retry"  # could not even start: let the broker deliver it again


class JobRunner:
    """Claims jobs and runs them as background tasks, at most ``max_jobs`` at once."""

    def __init__(
        self,
        settings: WorkerSettings,
        leases: LeaseStore,
        ports: Callable[[CrawlRequested], CrawlPorts],
        worker_id: str,
    ) -> None:
        self.settings = settings
        self.leases = leases
        self._ports = ports
        self.worker_id = worker_id
        self.running: dict[str, Crawl] = {}
        # Jobs whose cancel broadcast this process heard lately, running here or not: a job
        # claimed while its cancel was being heard is stopped when it registers as running.
        self._heard_cancels: OrderedDict[str, None] = OrderedDict()
        self.slots = asyncio.Semaphore(settings.max_jobs)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def gate_margin(self) -> float:
        """Lease seconds below which no visit starts: a fetch started just above it ends
        (``total_timeout``) before the lease runs out; at most four fifths of the lease."""
        s = self.settings
        return min(max(s.lease_seconds / 2, s.total_timeout + 5), s.lease_seconds * 0.8)

    def cancel(self, job_id: str) -> None:
        """A cancel broadcast for ``job_id``: stop it if it runs here, and remember it."""
        self._heard_cancels[job_id] = None
        self._heard_cancels.move_to_end(job_id)
        while len(self._heard_cancels) > _HEARD_CANCELS:
            self._heard_cancels.popitem(last=False)
        crawl = self.running.get(job_id)
        if crawl is not None:
            log.info("crawl.cancel", job_id=job_id)
            crawl.cancel()

    def heard_cancel(self, job_id: str) -> bool:
        """Whether this process heard ``job_id``'s cancel lately (running here or not)."""
        return job_id in self._heard_cancels

    def max_duration(self, request: CrawlRequest) -> float:
        """The request's own limit, capped by the operator's."""
        cap = self.settings.max_duration
        return min(request.max_duration, cap) if request.max_duration else cap

    async def accept(
        self, command: CrawlRequested | CrawlResumeRequested, *, redelivered: bool
    ) -> str:
        """Claim and start one job; the caller holds a slot, which this releases in time."""
        job = _as_requested(command)
        try:
            claim = await self._claim(job, redelivered=redelivered)
        except BaseException:
            self.slots.release()
            raise
        if claim.state is not ClaimState.CLAIMED:
            self.slots.release()
            log.info("job.not_claimed", job_id=job.job_id, state=claim.state.value)
            return Delivery.ACK
        try:
            state = await self.leases.load(job.job_id, claim.pieces)
            gate = LeaseGate(_monotonic(claim.lease_until) or 0.0, self.gate_margin)
            crawl = Crawl(
                job,
                self._ports(job),
                worker_id=self.worker_id,
                concurrency=self.settings.concurrency,
                record_batch=self.settings.record_batch,
                attempt=claim.attempt,
                state=state,
                deadline=_monotonic(claim.deadline_at),
                gate=gate,
            )
        except BaseException:
            self.slots.release()
            raise
        task = asyncio.create_task(self._run(crawl, claim, gate))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        first = asyncio.create_task(crawl.first_confirmed.wait())
        await asyncio.wait([task, first], return_when=asyncio.FIRST_COMPLETED)
        first.cancel()
        if crawl.first_confirmed.is_set():
            return Delivery.ACK
        return Delivery.RETRY  # the lease expires; the redelivery takes it over

    async def _claim(self, job: CrawlRequested, *, redelivered: bool) -> Claim:
        claim = await self.leases.claim(job.job_id, job.attempt, self.max_duration(job.request))
        if (
            claim.state is ClaimState.HELD
            and (redelivered or claim.attempt < job.attempt)
            and claim.lease_until is not None
        ):
            # The attempt before (a resume) or a worker that claimed this one and died before
            # it could start it: once its lease runs out without renewal, the job is ours.
            wait = (claim.lease_until - utcnow()).total_seconds() + 0.1
            await asyncio.sleep(min(max(wait, 0.0), self.settings.lease_seconds + 1))
            claim = await self.leases.claim(job.job_id, job.attempt, self.max_duration(job.request))
        return claim

    async def _run(self, crawl: Crawl, claim: Claim, gate: LeaseGate) -> None:
        job_id = crawl.command.job_id
        structlog.contextvars.bind_contextvars(job_id=job_id, attempt=claim.attempt)
        try:
            if claim.cancel_requested:
                await crawl.cancel_unstarted()
                await self.leases.finish(job_id, claim.attempt)
                log.info("crawl.cancelled_before_start")
                return
            self.running[job_id] = crawl
            # A cancel broadcast heard since the claim read the lease found no running crawl;
            # this process remembers it. (One heard by another instance only is read from the
            # lease by the first commit.)
            if job_id in self._heard_cancels:
                crawl.cancel()
            keeper = Keeper(
                crawl,
                self.leases,
                gate,
                self.settings,
                attempt=claim.attempt,
                pieces=claim.pieces,
            )
            keeping = asyncio.create_task(keeper.run())
            try:
                terminal = await crawl.run()
            finally:
                keeping.cancel()  # and wait for it: no commit lands after the finish below
                await asyncio.gather(keeping, return_exceptions=True)
                self.running.pop(job_id, None)
            if crawl.abandoned:
                log.warning("crawl.abandoned")
                return
            await self.leases.finish(job_id, claim.attempt)
            observability.job_finished(terminal)
            log.info("crawl.finished", type=terminal.type, **terminal.counters.model_dump())
        except Exception:
            # No terminal event could be sent: the lease runs out, the job is declared stalled
            # and another attempt resumes it from its committed state.
            log.exception("crawl.run_failed")
        finally:
            self.slots.release()

    async def close(self) -> None:
        for crawl in self.running.values():
            crawl.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)


def _as_requested(command: CrawlRequested | CrawlResumeRequested) -> CrawlRequested:
    if isinstance(command, CrawlRequested):
        return command
    return CrawlRequested(
        job_id=command.job_id,
        tenant=command.tenant,
        request=command.request,
        correlation_id=command.correlation_id,
        attempt=command.attempt,
    )


def _monotonic(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return time.monotonic() + (moment - utcnow()).total_seconds()
