"""Composition root of the crawler: ``create_app(settings)`` builds, nothing runs."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import structlog
from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, RabbitBroker

from crawl_contracts import CrawlCancelRequested, CrawlRequested, routing
from crawl_worker import observability
from crawl_worker.crawl import Crawl, CrawlPorts
from crawl_worker.extract import Extracted, extract_page
from crawl_worker.fetch import Fetcher, FetchLimits
from crawl_worker.politeness import HostGate, PolitenessLimits
from crawl_worker.robots import RobotsCache
from crawl_worker.safety import AddressGuard
from crawl_worker.settings import WorkerSettings
from crawl_worker.topology import cancel_queue, crawl_exchange, declare_dead_letters, work_queue

__all__ = ["BrokerSink", "CrawlerService", "create_app"]

log = structlog.get_logger("crawl_worker")


class BrokerSink:
    """Publishes events to the exchange with publisher confirms, persistent."""

    def __init__(self, broker: RabbitBroker) -> None:
        self._broker = broker

    async def emit(self, event: Any) -> None:
        await self._broker.publish(
            event.model_dump_json().encode(),
            exchange=routing.EXCHANGE,
            routing_key=routing.routing_key(event.type),
            persist=True,
            message_id=event.message_id,
            correlation_id=event.correlation_id,
            content_type="application/json",
            message_type=event.type,
        )


class CrawlerService:
    """The running parts of one crawler instance."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.worker_id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.broker = RabbitBroker(
            settings.rabbitmq_url,
            default_channel=Channel(prefetch_count=settings.max_jobs),
            logger=None,
        )
        self.running: dict[str, Crawl] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._client: httpx.AsyncClient | None = None
        self._register()

    def _register(self) -> None:
        @self.broker.subscriber(
            work_queue(routing.CRAWLER_REQUESTS_QUEUE),
            crawl_exchange(),
            ack_policy=AckPolicy.REJECT_ON_ERROR,
            title="crawler.requests",
            description="Crawl commands, one job per message.",
        )
        async def on_requested(command: CrawlRequested) -> None:
            await self.run_job(command)

        @self.broker.subscriber(
            cancel_queue(self.worker_id),
            crawl_exchange(),
            ack_policy=AckPolicy.ACK_FIRST,
            title="crawler.cancel",
            description="Cancel broadcasts; each instance stops the jobs it runs.",
        )
        async def on_cancel(command: CrawlCancelRequested) -> None:
            crawl = self.running.get(command.job_id)
            if crawl is not None:
                log.info("crawl.cancel", job_id=command.job_id)
                crawl.cancel()

    async def start_resources(self) -> None:
        processes = self.settings.extract_processes or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(
            max_workers=processes, mp_context=multiprocessing.get_context("spawn")
        )
        # Warm the pool so the first pages do not pay for importing trafilatura.
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(
                loop.run_in_executor(
                    self._pool, extract_page, b"<html><p>warm</p></html>", "http://w/"
                )
                for _ in range(processes)
            )
        )
        s = self.settings
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(s.read_timeout, connect=s.connect_timeout),
            headers={
                "User-Agent": s.user_agent,
                "Accept": "text/html,application/xhtml+xml",
                "Accept-Encoding": "gzip, deflate",  # the encodings the fetcher inflates itself
            },
            limits=httpx.Limits(
                max_connections=s.max_jobs * s.concurrency * 2,
                max_keepalive_connections=s.max_jobs * s.concurrency * 2,
            ),
            trust_env=False,
        )
        await declare_dead_letters(self.broker, routing.CRAWLER_REQUESTS_QUEUE)

    async def broker_ping(self) -> bool:
        return bool(await self.broker.ping(timeout=2.0))

    async def close(self) -> None:
        for crawl in self.running.values():
            crawl.cancel()
        if self._client is not None:
            await self._client.aclose()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def _extract(self, body: bytes, url: str) -> Extracted:
        assert self._pool is not None
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, partial(extract_page, body, url)
        )

    async def run_job(self, command: CrawlRequested) -> None:
        """Crawl one job to its terminal event."""
        structlog.contextvars.bind_contextvars(
            job_id=command.job_id, tenant=command.tenant, message_id=command.message_id
        )
        assert self._client is not None
        s = self.settings
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
            fetcher.fetch_text, s.user_agent, command.request.bypass_robots_domains
        )
        politeness = PolitenessLimits.resolve(
            default_concurrency=s.per_host_concurrency,
            max_concurrency=s.max_per_host_concurrency,
            default_delay=s.host_delay,
            min_delay=s.min_host_delay,
            max_crawl_delay=s.max_crawl_delay,
            requested_concurrency=command.request.per_host_concurrency,
            requested_delay=command.request.min_delay,
        )
        fetcher.use_gate(HostGate(politeness, robots.crawl_delay))
        crawl = Crawl(
            command,
            CrawlPorts(
                observability.timed_fetcher(fetcher),
                robots,
                observability.timed_extractor(self._extract),
                observability.CountingSink(BrokerSink(self.broker)),
            ),
            worker_id=self.worker_id,
            concurrency=s.concurrency,
            progress_interval=s.progress_interval,
        )
        self.running[command.job_id] = crawl
        try:
            terminal = await crawl.run()
        finally:
            self.running.pop(command.job_id, None)
        observability.job_finished(terminal)
        log.info("crawl.finished", type=terminal.type, **terminal.counters.model_dump())


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

    return FastStream(service.broker, lifespan=lifespan, logger=None), service
