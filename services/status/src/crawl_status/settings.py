"""Settings of the status service, read from ``CRAWL_STATUS_*`` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["StatusSettings"]


class StatusSettings(BaseSettings):
    """Every field can be set as ``CRAWL_STATUS_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="CRAWL_STATUS_", env_nested_delimiter="__")

    rabbitmq_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/", description="AMQP URL of RabbitMQ"
    )
    mongodb_url: str = Field(
        default="mongodb://127.0.0.1:27017/", description="URL of the MongoDB-protocol server"
    )
    mongodb_database: str = Field(default="crawl", description="Database holding the projection")
    prefetch: int = Field(default=64, ge=1, description="Messages handled at once")
    metrics_host: str = Field(
        default="127.0.0.1", description="Address of the /metrics and /health/* HTTP server"
    )
    metrics_port: int | None = Field(
        default=9102, ge=0, description="Port of /metrics and /health/* (0: any; unset: off)"
    )
    log_level: str = Field(default="INFO", description="Python log level name")
    log_json: bool | None = Field(
        default=None, description="JSON logs (default: JSON unless stderr is a terminal)"
    )
