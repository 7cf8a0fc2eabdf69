"""Settings of the API, read from ``CRAWL_API_*`` environment variables."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ApiSettings", "PrincipalConfig"]


class PrincipalConfig(BaseModel):
    """Who a static API token stands for."""

    user: str
    tenant: str
    email: str | None = None


class ApiSettings(BaseSettings):
    """Every field can be set as ``CRAWL_API_<FIELD>`` (upper case; maps and lists as JSON)."""

    model_config = SettingsConfigDict(env_prefix="CRAWL_API_", env_nested_delimiter="__")

    rabbitmq_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/", description="AMQP URL of RabbitMQ"
    )
    mongodb_url: str = Field(
        default="mongodb://127.0.0.1:27017/", description="URL of the MongoDB-protocol server"
    )
    mongodb_database: str = Field(default="crawl", description="Database holding the projection")
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds")
    port: int = Field(default=8000, description="Port the HTTP server binds")
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
    log_level: str = Field(default="INFO", description="Python log level name")
    log_json: bool | None = Field(
        default=None, description="JSON logs (default: JSON unless stderr is a terminal)"
    )
