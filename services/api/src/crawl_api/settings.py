"""Settings of the API, read from ``CRAWL_API_*`` environment variables."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crawl_contracts import RenderMode
from crawl_runtime.settings import BrokerSettings, DatabaseSettings, LogSettings

__all__ = ["ApiSettings", "AssistantConfig", "JwtSettings", "PrincipalConfig"]


class PrincipalConfig(BaseModel):
    """Who a static API token stands for."""

    user: str
    tenant: str
    email: str | None = None


class JwtSettings(BaseModel):
    """Bearer JWTs: HS256 with a shared secret and/or RS256 with a public key (PEM)."""

    hs256_secret: str | None = Field(default=None, description="Shared secret for HS256 tokens")
    rs256_public_key: str | None = Field(default=None, description="PEM public key for RS256")
    issuer: str | None = Field(default=None, description="Required `iss` claim, if set")
    audience: str | None = Field(default=None, description="Required `aud` claim, if set")
    tenant_claim: str = Field(default="tenant", description="Claim naming the tenant")
    email_claim: str = Field(default="email", description="Claim holding the e-mail (or UPN)")
    leeway_seconds: int = Field(default=30, ge=0, description="Clock skew tolerated on exp/nbf")


class AssistantConfig(BaseModel):
    """An assistant of the seed's routes: which tenant owns it and what it crawls."""

    tenant: str = Field(description="Tenant that owns the assistant")
    urls: list[str] = Field(min_length=1, description="Start URLs crawled by one run")
    max_pages: int = Field(default=100, ge=1, description="Page limit per start URL")
    max_depth: int = Field(default=3, ge=0, description="Depth limit per start URL")
    render: RenderMode = Field(
        default=RenderMode.AUTO,
        description=(
            "Whether its pages are rendered in a headless browser: never, auto (pages whose "
            "HTML loads scripts but shows little text) or always, as a crawl request's render"
        ),
    )


class ApiSettings(BrokerSettings, DatabaseSettings, LogSettings, BaseSettings):
    """Every field can be set as ``CRAWL_API_<FIELD>`` (upper case; maps and lists as JSON);
    the broker, database and log fields are :mod:`crawl_runtime.settings`'s."""

    model_config = SettingsConfigDict(env_prefix="CRAWL_API_", env_nested_delimiter="__")

    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds")
    port: int = Field(default=8000, description="Port the HTTP server binds")
    workers: int = Field(
        default=1, ge=1, description="HTTP worker processes (production: about one per core)"
    )
    tokens: dict[str, PrincipalConfig] = Field(
        default_factory=dict,
        description='Static bearer tokens, e.g. {"dev-token": {"user": "dev", "tenant": "dev"}}',
    )
    retry_after_seconds: int = Field(
        default=1, ge=1, description="Retry-After sent while a job is not finished"
    )
    publish_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for the broker to confirm a command"
    )
    jwt: JwtSettings = Field(
        default_factory=JwtSettings, description="JWT validation (CRAWL_API_JWT__<FIELD>)"
    )
    allowed_email_domains: list[str] = Field(
        default_factory=list,
        description="E-mail (UPN) domains admitted; empty admits every principal",
    )
    rate_limit_per_second: float = Field(
        default=50.0, gt=0, description="Sustained requests per second per principal"
    )
    rate_limit_burst: int = Field(
        default=200, ge=1, description="Requests a principal may make at once (bucket size)"
    )
    max_running_jobs_per_tenant: int = Field(
        default=100,
        ge=0,
        description="Unfinished jobs a tenant may have; more are a 429 (0: no cap)",
    )
    usage_share_interval: float = Field(
        default=0.1,
        gt=0,
        le=5,
        description=(
            "Seconds between shares of this process's admissions with the other API processes "
            "(the rate limit and the tenant cap hold across processes to within one interval)"
        ),
    )
    max_schedules_per_tenant: int = Field(
        default=100, ge=0, description="Schedules a tenant may have; more are a 409 (0: no cap)"
    )
    idempotency_key_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="How long an Idempotency-Key is remembered (then the same key is a new job)",
    )
    running_count_refresh_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How often the per-tenant unfinished-job count is re-read (the cap is soft)",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body accepted (413 above)"
    )
    max_wait_seconds: float = Field(
        default=30.0, gt=0, le=30.0, description="Upper bound of `Prefer: wait=N` long polls"
    )
    poll_interval: float = Field(
        default=0.1,
        gt=0,
        description=(
            "Seconds between database reads of SSE streams, and of long polls while the change "
            "feed is down"
        ),
    )
    changes_poll_interval: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Seconds between database reads of a long poll while the change feed is up (the "
            "feed's notices wake it at once; this only covers a lost notice)"
        ),
    )
    status_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description=(
            "Seconds a job document read for a status poll may be served again while no change "
            "notice arrived for it (bounds the cost of a lost notice; 0 reads every time)"
        ),
    )
    sse_settle_seconds: float = Field(
        default=1.5,
        ge=0,
        description=(
            "Seconds an item must have been visible before SSE sends it, so items the projection "
            "makes visible slightly out of order are never skipped (latency vs. margin)"
        ),
    )
    sse_keepalive_seconds: float = Field(
        default=15.0, gt=0, description="Seconds between SSE comment lines on a quiet stream"
    )
    assistants: dict[str, AssistantConfig] = Field(
        default_factory=dict,
        description='Assistants of the seed routes, e.g. {"a1": {"tenant": "t", "urls": [..]}}',
    )
