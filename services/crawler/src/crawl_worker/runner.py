"""Running claimed jobs: claim, restore, start, commit state, finish or hand back.

A command's delivery is acknowledged as soon as its job is claimed *and* its first event
(``CrawlStarted``, or ``CrawlCancelled`` for a job cancelled before it started) is confirmed
by the broker, so a crawl of any length never holds a delivery past RabbitMQ's
``consumer_timeout``. From then on the lease is what keeps the job: its :class:`Keeper`
commits the crawl's durable state and renews the lease every ``checkpoint_interval``, and gives
the job up when it cannot (``keeper.py``). If this process dies, its heartbeats stop, the
status service declares the job stalled and asks for the next attempt, which another worker
claims (once this one's lease ran out) and resumes from the committed pieces.

A process that is told to stop (SIGTERM) does not leave its jobs to that: :meth:`JobRunner.
hand_back` takes no new job, stops each running crawl from starting visits and lets those in
flight end for half of ``stop_grace`` (then stops them: their URLs stay queued), stores each
crawl's last commit, releases its lease to the next attempt and sends ``CrawlReleased``, on
which the status service asks for that attempt at once; all within ``stop_grace`` seconds. A
job whose hand-back fails (the database or the broker is unreachable, time runs out) is left
as a crash leaves it: its lease runs out and the stall detector has it resumed; its last
commit, if stored, is what the next attempt resumes from, so no page is lost or recorded twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from asyncio import FIRST_COMPLETED
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
    REQUEUE = "requeue"  # this runner is stopping: leave the command to another crawler


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
        self.stopping = asyncio.Event()  # takes no new job; hands the running ones back
        self._grace = 0.0  # seconds the stop allows
        self._stop_by = 0.0  # loop time by which every hand-back ends

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

    async def take_slot(self, wait: float) -> bool:
        """A job slot, within ``wait`` seconds; ``False`` if none came free in time or this
        runner is stopping (then no slot is held)."""
        acquire = asyncio.ensure_future(self.slots.acquire())
        stopping = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait([acquire, stopping], timeout=wait, return_when=FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not acquire.done():
                acquire.cancel()
            await asyncio.wait([acquire])
        if acquire.cancelled():
            return False
        if self.stopping.is_set():
            self.slots.release()
            return False
        return True

    def max_duration(self, request: CrawlRequest) -> float:
        """The request's own limit, capped by the operator's."""
        cap = self.settings.max_duration
        return min(request.max_duration, cap) if request.max_duration else cap

    async def accept(
        self, command: CrawlRequested | CrawlResumeRequested, *, redelivered: bool
    ) -> str:
        """Claim and start one job; the caller holds a slot, which this releases in time."""
        job = _as_requested(command)
        if self.stopping.is_set():
            self.slots.release()
            return Delivery.REQUEUE
        try:
            claim = await self._claim(job, redelivered=redelivered)
        except BaseException:
            self.slots.release()
            raise
        if claim.state is not ClaimState.CLAIMED:
            self.slots.release()
            if self.stopping.is_set() and claim.state is ClaimState.HELD:
                return Delivery.REQUEUE  # the wait for the lease was cut short
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
            wait = min(max(wait, 0.0), self.settings.lease_seconds + 1)
            # A stop ends the wait (asyncio.timeout: wait_for on 3.11 can lose a cancel).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self.stopping.wait()
            if self.stopping.is_set():
                return claim
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
            if self.stopping.is_set():  # claimed as this runner began to stop
                crawl.hand_back(self._visits_left())
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
            if terminal is None:
                await self._hand_back(crawl, keeper, claim.attempt)
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

    async def hand_back(self, grace: float) -> None:
        """Stop: take no new job, and hand every running one back (see the module doc), within
        ``grace`` seconds."""
        loop = asyncio.get_running_loop()
        self._grace, self._stop_by = grace, loop.time() + grace
        self.stopping.set()
        running = list(self.running.values())
        if running:
            log.info("crawler.handing_back", jobs=len(running), grace=grace)
        for crawl in running:
            crawl.hand_back(self._visits_left())
        # Until every job's task ended: those started as the stop began hand theirs back too.
        while self._tasks and (left := self._stop_by - loop.time()) > 0:
            await asyncio.wait(list(self._tasks), timeout=left)
        for job_id, crawl in list(self.running.items()):
            log.error("crawl.hand_back_failed", job_id=job_id, error="out of time")
            crawl.abandon()  # says nothing more: the lease runs out, the stall detector resumes

    def _visits_left(self) -> float:
        """The seconds visits in flight may go on: half of what is left of the stop's grace
        (the other half is the last commit's, the release's and CrawlReleased's)."""
        return max(self._stop_by - asyncio.get_running_loop().time(), 0.0) / 2

    async def _hand_back(self, crawl: Crawl, keeper: Keeper, attempt: int) -> None:
        """The crawl stopped for a hand-back: store its last commit, release the lease to the
        next attempt, say ``CrawlReleased``. What fails is logged with its cause, and the job
        left to the lease's expiry and the stall detector."""
        job_id = crawl.command.job_id
        left = self._stop_by - asyncio.get_running_loop().time()
        released = False
        try:
            async with asyncio.timeout(max(left, 0.01)):
                counters = await keeper.commit_last()
                if counters is None:  # given up, logged: the lease was lost or ran out
                    log.error("crawl.hand_back_failed", error="the last commit was not stored")
                    return
                if not await self.leases.release(job_id, attempt):
                    log.error("crawl.hand_back_failed", error="the lease was lost")
                    return
                await crawl.announce_release(counters)
                released = True
                log.info("crawl.handed_back", **counters.model_dump())
        except Exception as exc:
            # The lease released or not, the job goes on: the next attempt claims it (at once,
            # or once the lease ran out) when the stall detector asks for it.
            error = (
                f"out of time ({self._grace} s)"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}"[:300]
            )
            log.error("crawl.hand_back_failed", error=error)  # noqa: TRY400 - the cause is said
            crawl.abandon()
        finally:
            observability.job_handed_back(released=released)

    async def close(self) -> None:
        """Stop at once: crawls still running say nothing more (their jobs are resumed when
        their leases ran out); after ``hand_back`` there are none."""
        for crawl in self.running.values():
            crawl.abandon()
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
