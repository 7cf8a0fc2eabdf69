"""Composition root of the crawler: ``create_app(settings)`` builds, nothing runs."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.message import RabbitMessage  # the class, not the annotation
from pydantic import ValidationError
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from crawl_contracts import (
    CrawlCancelRequested,
    CrawlRequested,
    CrawlResumeRequested,
    RenderPoliteness,
    UnknownMessageError,
    parse_message,
    routing,
)
from crawl_politeness import HostGate, PolitenessLimits
from crawl_runtime.bodies import undecoded
from crawl_runtime.deadletters import dead_letter
from crawl_runtime.publish import publish_message, republish
from crawl_runtime.topology import crawl_exchange, declare_dead_letters, work_queue
from crawl_worker import observability
from crawl_worker.baseline import MongoBaselines
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.extractclient import ExtractClient
from crawl_worker.extraction import JobExtractor, LocalExtractor
from crawl_worker.extractserver import ExtractServer
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.lease import LeaseStore
from crawl_worker.legacy import replace_inequivalent_extract_queue
from crawl_worker.renderclient import JobRenderer, RenderClient
from crawl_worker.robots import RobotsCache, RobotsFiles
from crawl_worker.runner import Delivery, JobRunner
from crawl_worker.safety import AddressGuard, pinned_transport
from crawl_worker.settings import WorkerSettings
from crawl_worker.topology import bind_extra_routes, cancel_queue

__all__ = ["BrokerSink", "CrawlerService", "create_app"]

log = structlog.get_logger("crawl_worker")


class BrokerSink:
    """Publishes events to the exchange with publisher confirms, persistent."""

    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker

    async def emit(self, event: Any) -> None:
        await publish_message(self._broker, event)


class CrawlerService:
    """The running parts of one crawler instance."""

    def __init__(self, settings: WorkerSettings, *, extract_pool: Executor | None = None) -> None:
        """``extract_pool`` runs extractions of larger pages (default: a process pool of
        ``extract_processes`` made by ``start_resources``)."""
        self.settings = settings
        self.worker_id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.broker = RabbitBroker(
            settings.rabbitmq_url,
            default_channel=Channel(prefetch_count=settings.max_jobs),
            logger=None,
        )
        self.mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongodb_url, tz_aware=True, connect=False
        )
        self.leases = LeaseStore(
            self.mongo[settings.mongodb_database],
            self.worker_id,
            settings.lease_seconds,
            retention=settings.lease_retention,
        )
        self.runner = JobRunner(settings, self.leases, self._crawl_ports, self.worker_id)
        self.extractor = LocalExtractor(settings, extract_pool)
        self._client: httpx.AsyncClient | None = None
        self._robots_files = RobotsFiles(settings.robots_cache_seconds)
        self.renders = RenderClient(
            self.broker,
            self.worker_id,
            timeout=settings.render_timeout,
            check_interval=settings.render_check_interval,
        )
        # One crawl's extraction on every crawler: each asks through the queue and serves it.
        self.extract_client: ExtractClient | None = None
        self.extract_server: ExtractServer | None = None
        if settings.share_extraction:
            self.extract_client = ExtractClient(
                self.broker,
                self.worker_id,
                timeout=settings.extract_remote_timeout,
                check_interval=settings.extract_check_interval,
            )
            self.extract_server = ExtractServer(
                self.broker,
                self.extractor,
                self.worker_id,
                cancelled=self.runner.heard_cancel,
                own=self.extract_client,
            )
            self.extract_client.register()
            self.extract_server.register()
        self._register()
        self.renders.register()

    @property
    def running(self) -> dict[str, Crawl]:
        return self.runner.running

    def _register(self) -> None:
        # One command at a time on its own channel: a command waits unacknowledged only while
        # every job slot is busy, and never longer than ``slot_wait``.
        self._requests = self.broker.subscriber(
            work_queue(routing.CRAWLER_REQUESTS_QUEUE),
            crawl_exchange(),
            channel=Channel(prefetch_count=1),
            ack_policy=AckPolicy.MANUAL,
            decoder=undecoded,
            title="crawler.requests",
            description="Crawl and resume commands: each claims a job's lease, then is acked.",
        )

        @self._requests
        async def on_requested() -> None:
            # The message comes from the context rather than a `message: RabbitMessage`
            # parameter: FastStream resolves such a parameter on a worker thread, one thread
            # hop per command before its claim.
            message = self.broker.context.get_local("message")
            assert isinstance(message, RabbitMessage)
            await self.handle_request(message)

        @self.broker.subscriber(
            cancel_queue(self.worker_id),
            crawl_exchange(),
            ack_policy=AckPolicy.ACK_FIRST,
            title="crawler.cancel",
            description="Cancel broadcasts; each instance stops the jobs it runs.",
        )
        async def on_cancel(command: CrawlCancelRequested) -> None:
            # At once, before any I/O; a job that registers as running later finds it
            # remembered (``JobRunner._run``).
            self.runner.cancel(command.job_id)
            try:  # for whoever claims the job later, in any instance
                await self.leases.request_cancel(command.job_id)
            except PyMongoError as exc:  # the status document still carries the cancel
                log.warning("crawl.cancel_not_recorded", job_id=command.job_id, error=str(exc))

    async def handle_request(self, message: RabbitMessage) -> None:
        """Validate, claim and start one command; map every outcome to ack, retry or dead letter."""
        queue = routing.CRAWLER_REQUESTS_QUEUE
        structlog.contextvars.bind_contextvars(message_id=message.message_id)
        try:
            command = parse_message(message.body)
        except (UnknownMessageError, ValidationError) as exc:
            await dead_letter(self.broker, message, queue, f"unparseable: {exc}")
            return
        if not isinstance(command, CrawlRequested | CrawlResumeRequested):
            await dead_letter(self.broker, message, queue, f"not a crawl command: {command.type}")
            return
        structlog.contextvars.bind_contextvars(job_id=command.job_id, tenant=command.tenant)
        if not await self.runner.take_slot(self.settings.slot_wait):  # or stopping
            await self._requeue_at_tail(message)
            return
        try:
            outcome = await self.runner.accept(
                command, redelivered=bool(message.raw_message.redelivered)
            )
        except Exception:
            log.exception("command.failed")
            outcome = Delivery.RETRY
        if outcome == Delivery.ACK:
            await message.ack()
        elif outcome == Delivery.REQUEUE:
            await self._requeue_at_tail(message)
        else:
            # Counted by the quorum queue: past its delivery limit it is dead-lettered.
            await message.nack(requeue=True)

    async def _requeue_at_tail(self, message: RabbitMessage) -> None:
        """Every slot stayed busy, or this crawler is stopping: put a copy at the tail (not
        counted as a failed delivery), for whichever crawler is free."""
        await republish(
            self.broker,
            message,
            exchange="",
            routing_key=routing.CRAWLER_REQUESTS_QUEUE,
            headers=message.raw_message.headers,
        )
        await message.ack()

    def _crawl_ports(self, command: CrawlRequested) -> CrawlPorts:
        """Fetcher, robots.txt, host gate, extraction and event sink for one job, within
        operator limits."""
        assert self._client is not None
        s = self.settings
        request = command.request
        fetcher = Fetcher(
            self._client,
            AddressGuard(s.allowed_networks),
            FetchLimits(
                max_bytes=s.max_response_bytes,
                max_redirects=s.max_redirects,
                total_timeout=s.total_timeout,
                retries=s.retries,
                retry_backoff=s.retry_backoff,
                max_retry_after=s.max_retry_after,
                max_compression_ratio=s.max_compression_ratio,
            ),
        )
        robots = RobotsCache(
            fetcher.fetch_text, s.user_agent, request.bypass_robots_domains, self._robots_files
        )
        politeness = PolitenessLimits.resolve(
            default_concurrency=s.per_host_concurrency,
            max_concurrency=s.max_per_host_concurrency,
            default_delay=s.host_delay,
            min_delay=s.min_host_delay,
            max_crawl_delay=s.max_crawl_delay,
            requested_concurrency=request.per_host_concurrency,
            requested_delay=request.min_delay,
        )
        fetcher.use_gate(HostGate(politeness, robots.crawl_delay))
        return CrawlPorts(
            observability.timed_fetcher(fetcher),
            robots,
            observability.timed_extractor(
                JobExtractor(self.extractor, self.extract_client, command)
            ),
            observability.CountingSink(BrokerSink(self.broker)),
            MongoBaselines(self.mongo[s.mongodb_database]),
            # The browser's requests keep the job's politeness (its Crawl-delay included
            # only as far as min_delay says: robots.txt is the crawler's to read).
            observability.timed_renderer(
                JobRenderer(
                    self.renders,
                    RenderPoliteness(concurrency=politeness.concurrency, delay=politeness.delay),
                )
            ),
        )

    async def start_resources(self) -> None:
        if self.extract_client is not None:
            # Before anything here declares crawler.extract (ExtractClient.start below, the
            # broker's subscriber once it starts): an earlier version's quorum queue of that
            # name would refuse both.
            await replace_inequivalent_extract_queue(self.settings.rabbitmq_url)
        await self.leases.ensure_indexes()
        await self.extractor.start()
        s = self.settings
        connections = s.max_jobs * s.concurrency * 2
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(s.read_timeout, connect=s.connect_timeout),
            headers={
                "User-Agent": s.user_agent,
                "Accept": "text/html,application/xhtml+xml",
                "Accept-Encoding": "gzip, deflate",  # the encodings the fetcher inflates itself
            },
            # Every connection goes to an address the guard checked at connect time.
            transport=pinned_transport(
                AddressGuard(s.allowed_networks).permits,
                limits=httpx.Limits(
                    max_connections=connections, max_keepalive_connections=connections
                ),
            ),
            trust_env=False,
        )
        await declare_dead_letters(self.broker, routing.CRAWLER_REQUESTS_QUEUE)
        await bind_extra_routes(self.broker)
        await self.renders.start()
        if self.extract_client is not None and self.extract_server is not None:
            await self.extract_server.start()
            await self.extract_client.start()

    async def broker_ping(self) -> bool:
        return bool(await self.broker.ping(timeout=2.0))

    async def stop(self) -> None:
        """On SIGTERM, before the broker stops: take no new command, and hand every running
        job back (``JobRunner.hand_back``), within ``stop_grace`` seconds."""
        grace = self.settings.stop_grace
        log.info("crawler.stopping", grace=grace, jobs=len(self.running))
        await asyncio.gather(self.runner.hand_back(grace), self._stop_taking(grace))
        log.info("crawler.stopped_taking_jobs")

    async def _stop_taking(self, grace: float) -> None:
        """Cancel the consumer of ``crawler.requests`` (a command in hand is put back at the
        tail of the queue, for another crawler)."""
        try:
            async with asyncio.timeout(grace):
                await self._requests.stop()
        except Exception as exc:  # the broker stops it anyway; a command in hand returns then
            log.warning("crawler.requests_not_stopped", error=f"{type(exc).__name__}: {exc}")

    async def close(self) -> None:
        await self.runner.close()
        if self._client is not None:
            await self._client.aclose()
        self.extractor.close()
        await self.mongo.close()


def create_app(settings: WorkerSettings) -> tuple[FastStream, CrawlerService]:
    """Build the FastStream application and the service it runs."""
    service = CrawlerService(settings)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await service.broker.connect()
        await service.start_resources()
        probes = observability.server_for(settings, service.running, service.broker_ping)
        await probes.start()
        log.info("crawler.ready", worker_id=service.worker_id)
        try:
            yield
        finally:
            await probes.stop()
            await service.close()

    # The hand-back runs before the broker stops (FastStream runs on_shutdown hooks first):
    # it still publishes, and commands in hand still go back to the queue.
    app = FastStream(service.broker, lifespan=lifespan, logger=None, on_shutdown=[service.stop])
    return app, service
