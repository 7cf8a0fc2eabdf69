"""Settings of the crawler service, read from ``CRAWL_WORKER_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crawl_runtime.settings import (
    BrokerSettings,
    DatabaseSettings,
    LogSettings,
    ProbeSettings,
    metrics_port_field,
)

__all__ = ["WorkerSettings"]


class WorkerSettings(BrokerSettings, DatabaseSettings, ProbeSettings, LogSettings, BaseSettings):
    """Every field can be set as ``CRAWL_WORKER_<FIELD>`` (upper case; lists as JSON); the
    broker, database (of the job leases), probe and log fields are
    :mod:`crawl_runtime.settings`'s."""

    model_config = SettingsConfigDict(env_prefix="CRAWL_WORKER_", env_nested_delimiter="__")

    worker_id: str | None = Field(default=None, description="Name in events (default host:pid)")
    max_jobs: int = Field(default=4, ge=1, description="Crawl jobs one instance runs at once")
    concurrency: int = Field(default=8, ge=1, description="Requests in flight per job")
    record_batch: int = Field(
        default=100,
        ge=1,
        le=1000,
        description=(
            "Page records per message at most (PagesRecorded); a batch also goes out at each "
            "checkpoint and before the terminal event. 1: every record alone, at once"
        ),
    )
    extract_processes: int | None = Field(
        default=None, ge=1, description="Extraction process pool size (default: CPU count)"
    )
    extract_timeout: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds a page's extraction may take; past them the page is failed with "
            "extraction_timeout and the crawl goes on"
        ),
    )
    inline_extract_bytes: int = Field(
        default=4096,
        ge=0,
        description=(
            "Pages up to this size are extracted in the event loop (about 1 ms per KiB), "
            "larger ones in the process pool, whose hand-off costs several ms per page; "
            "documents (PDF) always go to the pool"
        ),
    )
    share_extraction: bool = Field(
        default=True,
        description=(
            "Extract through the crawler.extract work queue, which every crawler serves, so "
            "one crawl's extraction uses every crawler process; false: neither ask nor serve"
        ),
    )
    extract_remote_timeout: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds a crawler waits for another crawler's extraction of its page; past "
            "them it extracts the page itself"
        ),
    )
    extract_check_interval: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Seconds between asks of the broker whether another crawler serves the "
            "extraction queue; meanwhile pages are extracted where the last answer said"
        ),
    )
    user_agent: str = Field(
        default="crawl-platform/0.1 (+https://example.invalid/bot)",
        description="User-Agent sent with every request and matched against robots.txt",
    )
    robots_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How long this worker's crawls share a fetched robots.txt (0: not at all)",
    )
    connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to connect")
    read_timeout: float = Field(default=15.0, gt=0, description="Seconds between bytes")
    total_timeout: float = Field(default=30.0, gt=0, description="Seconds for a whole response")
    max_response_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Larger responses are skipped (too_large)"
    )
    max_redirects: int = Field(default=10, ge=0, description="Redirect hops per URL")
    allowed_networks: list[str] = Field(
        default_factory=list,
        description=(
            "CIDR ranges that may be crawled although private, loopback or link-local "
            '(e.g. ["127.0.0.0/8"] for local test sites). Empty: only public addresses.'
        ),
    )
    per_host_concurrency: int = Field(
        default=8, ge=1, description="Requests in flight per host, unless a request asks fewer"
    )
    max_per_host_concurrency: int = Field(
        default=32, ge=1, description="Operator cap on a request's per_host_concurrency"
    )
    host_delay: float = Field(
        default=0.0, ge=0, description="Seconds between request starts per host, by default"
    )
    min_host_delay: float = Field(
        default=0.0, ge=0, description="Operator floor under a request's min_delay"
    )
    max_crawl_delay: float = Field(
        default=30.0, ge=0, description="robots.txt Crawl-delay values above this are capped"
    )
    max_retry_after: float = Field(
        default=120.0,
        ge=0,
        description="Longest Retry-After honoured on 429/503; a longer one fails the URL",
    )
    retries: int = Field(
        default=2, ge=0, description="Extra attempts for connection errors, 5xx and 429"
    )
    retry_backoff: float = Field(
        default=0.5, ge=0, description="Base seconds of the exponential, jittered retry backoff"
    )
    max_compression_ratio: float = Field(
        default=200.0,
        ge=1,
        description="Decoded/encoded size ratio above which a compressed response is a bomb",
    )
    checkpoint_interval: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Seconds between commits of a crawl's durable state (each renews its lease and is "
            "followed by a progress event with the counters it stored)"
        ),
    )
    render_timeout: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds to wait for a renderer's answer to a page that needs rendering; past "
            "them the page is recorded from its fetched HTML and the job's log says so"
        ),
    )
    render_check_interval: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Seconds between asks of the broker whether any renderer runs; meanwhile pages "
            "are not sent to renderers that are not there"
        ),
    )
    metrics_port: int | None = metrics_port_field(9101)
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "A job's lease lasts this long unless renewed. A crawl starts no visit with less "
            "than max(lease_seconds / 2, total_timeout + 5) seconds of it left, and gives the "
            "job up when it runs out"
        ),
    )
    lease_retention: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="Seconds a lease is kept after its job's deadline (expires_at)",
    )
    heartbeat_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between heartbeat events (the status service's sign of life)",
    )
    max_duration: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="Operator cap on a crawl's duration in seconds (requests may ask for less)",
    )
    stop_grace: float = Field(
        default=10.0,
        ge=0,
        description=(
            "Seconds a stopping crawler (SIGTERM) takes to hand its running jobs back: visits "
            "in flight may end for half of it, then each crawl's state is committed, its lease "
            "released and CrawlReleased sent, so another crawler resumes it at once. Keep it "
            "well under the time the platform allows a stop (Kubernetes' "
            "terminationGracePeriodSeconds, 30 in deploy/k8s)"
        ),
    )
    slot_wait: float = Field(
        default=600.0,
        gt=0,
        description=(
            "Seconds a command may wait for a free job slot before it is put back at the tail "
            "of the queue (must stay well below RabbitMQ's consumer_timeout)"
        ),
    )
