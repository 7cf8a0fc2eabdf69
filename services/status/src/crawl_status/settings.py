"""Settings of the status service, read from ``CRAWL_STATUS_*`` environment variables."""

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

__all__ = ["StatusSettings"]


class StatusSettings(BrokerSettings, DatabaseSettings, ProbeSettings, LogSettings, BaseSettings):
    """Every field can be set as ``CRAWL_STATUS_<FIELD>`` (upper case); the broker, database,
    probe and log fields are :mod:`crawl_runtime.settings`'s."""

    model_config = SettingsConfigDict(env_prefix="CRAWL_STATUS_", env_nested_delimiter="__")

    prefetch: int = Field(default=64, ge=1, description="Messages prefetched per partition")
    metrics_port: int | None = metrics_port_field(9102)
    stall_after: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Seconds without any event after which a running job is declared stalled (keep it "
            "several crawler heartbeat intervals long, and at least the crawler's lease: a "
            "resumed attempt starts only once the previous lease ran out, and looks silent "
            "until then)"
        ),
    )
    stall_scan_interval: float = Field(
        default=5.0, gt=0, description="Seconds between scans for stalled jobs"
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="Attempts a job gets (the first plus resumes) before a stall fails it",
    )
    schedules: bool = Field(
        default=True, description="Fire due schedules (every replica may: each tick fires once)"
    )
    schedule_interval: float = Field(
        default=1.0, gt=0, le=5, description="Seconds between looks for due schedule ticks"
    )
    schedule_claim_grace: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds after which a claimed tick whose commands are still unpublished (its "
            "claimer died) is published by another replica"
        ),
    )
    retention: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="Seconds a finished job, its pages and logs are kept (expires_at)",
    )
    sweep_interval: float = Field(
        default=300.0,
        gt=0,
        description="Seconds between retention sweeps (servers without TTL indexes)",
    )
    webhook_secrets: dict[str, str] = Field(
        default_factory=dict,
        description='Signing secret per tenant, Standard Webhooks form: {"acme": "whsec_<base64>"}',
    )
    webhook_allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDR ranges webhooks may reach although private/loopback (operator list)",
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, description="Attempts per delivery before it is marked failed"
    )
    webhook_backoff_base: float = Field(
        default=1.0, gt=0, description="Seconds before the first retry; doubles per attempt"
    )
    webhook_backoff_max: float = Field(
        default=3600.0, gt=0, description="Longest wait between two attempts, in seconds"
    )
    webhook_timeout: float = Field(default=10.0, gt=0, description="Seconds per attempt")
    webhook_poll_interval: float = Field(
        default=0.2, gt=0, description="Seconds between looks for due deliveries"
    )
