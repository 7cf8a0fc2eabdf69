"""Composition root of the API: ``create_app(settings)`` builds the Litestar application.

Clients (MongoDB, RabbitMQ) are created and closed by the lifespan, never at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import structlog
from litestar import Litestar, Request, get
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from pymongo import AsyncMongoClient

from crawl_api.allow import AllowMiddleware
from crawl_api.auth import Authenticator, EmailDomainPolicy, Principal
from crawl_api.bodies import ValidatorSchemas
from crawl_api.cancel import Canceller
from crawl_api.changelist import ChangeReader
from crawl_api.changes import ChangeFeed
from crawl_api.crawls import CrawlController
from crawl_api.dashboard import dashboard_routes
from crawl_api.dashboard.reads import DashboardReads
from crawl_api.errors import ServiceUnavailable, TooManyRequests, exception_handlers
from crawl_api.events import EventsController
from crawl_api.idempotency import IdempotencyStore
from crawl_api.jobviews import JobViews
from crawl_api.metrics import MetricsMiddleware, metrics
from crawl_api.ports import Ports, dependencies
from crawl_api.problems import problems
from crawl_api.publisher import CommandPublisher
from crawl_api.ratelimit import RateLimiter
from crawl_api.reads import ReadStore
from crawl_api.recent import RecentJobs
from crawl_api.recrawls import ChangesController
from crawl_api.results import ResultsController
from crawl_api.schedules import ScheduleController, ScheduleCreate
from crawl_api.schedulestore import ScheduleStore
from crawl_api.seed import AssistantCrawlController, StartWebCrawlRequest
from crawl_api.seedschedules import AssistantScheduleController, ScheduleWebCrawlRequest
from crawl_api.settings import ApiSettings
from crawl_api.store import JobStore
from crawl_api.submission import Submitter
from crawl_api.usage import UsageShare
from crawl_contracts import CrawlRequest
from crawl_schema import ensure_indexes, names

__all__ = ["create_app"]

log = structlog.get_logger("crawl_api")

# The collections the API reads or writes, whose indexes it makes sure of at start (the status
# service does the same for those it writes: whichever starts first creates them).
_READ_OR_WRITTEN = (
    names.CRAWLS,
    names.PAGES,
    names.WEBHOOK_DELIVERIES,
    names.IDEMPOTENCY_KEYS,
    names.ASSISTANT_RUNS,
    names.SCHEDULES,
    names.SCHEDULE_TIMERS,
    names.SCHEDULE_FIRES,
)


@get("/health/live", summary="The process answers", tags=["health"])
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/health/ready",
    summary="Broker and database answer",
    tags=["health"],
    responses=problems(503),
)
async def ready(
    mongo: NamedDependency[AsyncMongoClient[dict[str, Any]]],
    publisher: NamedDependency[CommandPublisher],
) -> dict[str, str]:
    try:
        await mongo.admin.command("ping")
    except Exception as exc:
        raise ServiceUnavailable(f"database: {exc}", headers={"Retry-After": "5"}) from exc
    if not await publisher.ping():
        raise ServiceUnavailable("broker: no connection", headers={"Retry-After": "5"})
    return {"status": "ok"}


def _principal_provider(
    authenticator: Authenticator, limiter: RateLimiter, usage: UsageShare
) -> Callable[[Request[Any, Any, Any]], Awaitable[Principal]]:
    """The ``principal`` dependency: the caller, admitted by its rate limit (or a 429)."""

    async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
        principal = authenticator.authenticate(request)
        key = f"{principal.tenant}\x00{principal.user}"
        wait = limiter.admit(key)
        if wait is not None:
            raise TooManyRequests(
                "the caller's request rate is over its limit",
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
        usage.admitted(key)
        return principal

    return provide_principal


def create_app(settings: ApiSettings) -> Litestar:
    authenticator = Authenticator(
        settings.tokens, settings.jwt, EmailDomainPolicy(settings.allowed_email_domains)
    )
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    usage = UsageShare(settings.rabbitmq_url, limiter, interval=settings.usage_share_interval)
    ports = Ports()  # filled by the lifespan, handed to handlers as dependencies

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongodb_url, tz_aware=True
        )
        publisher = CommandPublisher(settings.rabbitmq_url, timeout=settings.publish_timeout)
        await publisher.connect()
        changes = ChangeFeed(settings.rabbitmq_url)
        try:
            await changes.start()
        except Exception as exc:  # long polls fall back to reading every poll_interval
            log.warning("change_feed.unavailable", error=str(exc))
        ports.changes = changes
        ports.mongo = mongo
        recent = RecentJobs(settings.status_cache_seconds, live=lambda: changes.connected)
        changes.listen(recent.noticed)
        changes.on_reconnect(recent.clear)
        database = mongo[settings.mongodb_database]
        ports.database = database
        ports.store = store = JobStore(database, recent)
        ports.views = JobViews(store)
        ports.publisher = publisher
        ports.reads = ReadStore(database)
        ports.runs = database[names.ASSISTANT_RUNS]
        ports.dashboard_reads = DashboardReads(database)
        ports.change_reader = ChangeReader(database[names.PAGES])
        ports.canceller = Canceller(store, publisher)
        ports.schedules = ScheduleStore(database, max_per_tenant=settings.max_schedules_per_tenant)
        await ensure_indexes(database, *_READ_OR_WRITTEN)
        keys = IdempotencyStore(database, timedelta(seconds=settings.idempotency_key_seconds))
        ports.submitter = Submitter(
            store,
            ports.reads,
            keys,
            publisher,
            max_running=settings.max_running_jobs_per_tenant,
            retry_after=settings.retry_after_seconds,
            cap_refresh=settings.running_count_refresh_seconds,
            on_submitted=usage.submitted,
        )
        try:
            await usage.start(ports.submitter)
        except Exception as exc:  # the limits then hold per process
            log.warning("usage.unavailable", error=str(exc))
        try:
            yield
        finally:
            await usage.close()
            await changes.close()
            await publisher.close()
            await mongo.close()

    return Litestar(
        route_handlers=[
            CrawlController,
            live,
            ready,
            metrics,
            *dashboard_routes(),
            ResultsController,
            ChangesController,
            EventsController,
            AssistantCrawlController,
            AssistantScheduleController,
            ScheduleController,
        ],
        middleware=[MetricsMiddleware, AllowMiddleware],
        plugins=[
            ValidatorSchemas(
                CrawlRequest, StartWebCrawlRequest, ScheduleCreate, ScheduleWebCrawlRequest
            )
        ],
        lifespan=[lifespan],
        dependencies={
            "principal": Provide(_principal_provider(authenticator, limiter, usage)),
            **dependencies(settings, authenticator, ports),
        },
        exception_handlers=exception_handlers,
        openapi_config=OpenAPIConfig(title="Crawl platform API", version="1.0.0", path="/schema"),
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,
    )
