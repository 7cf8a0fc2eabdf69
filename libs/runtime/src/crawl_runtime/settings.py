"""Settings field groups every service has, written once.

Each group is a plain pydantic model that a service's ``BaseSettings`` class inherits from, so
its fields stay flat and take the service's own prefix (``CRAWL_API_RABBITMQ_URL``,
``CRAWL_WORKER_LOG_LEVEL``, ...). A field whose default differs by service (the probe port)
is offered as a field factory instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "BrokerSettings",
    "DatabaseSettings",
    "LogSettings",
    "ProbeSettings",
    "metrics_port_field",
]


class BrokerSettings(BaseModel):
    """Where RabbitMQ is."""

    rabbitmq_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/", description="AMQP URL of RabbitMQ"
    )


class DatabaseSettings(BaseModel):
    """Where the MongoDB-protocol server is, and which database holds the platform's data."""

    mongodb_url: str = Field(
        default="mongodb://127.0.0.1:27017/", description="URL of the MongoDB-protocol server"
    )
    mongodb_database: str = Field(
        default="crawl",
        description="Database holding the projection and the crawler's leases",
    )


class LogSettings(BaseModel):
    """How the process logs (see :func:`crawl_runtime.logs.configure_logging`)."""

    log_level: str = Field(default="INFO", description="Python log level name")
    log_json: bool | None = Field(
        default=None, description="JSON logs (default: JSON unless stderr is a terminal)"
    )


class ProbeSettings(BaseModel):
    """Where the ``/metrics`` and ``/health/*`` server binds (its port: ``metrics_port_field``)."""

    metrics_host: str = Field(
        default="127.0.0.1", description="Address of the /metrics and /health/* HTTP server"
    )


def metrics_port_field(default: int) -> Any:
    """The ``metrics_port`` field, with the service's own default port (services sharing a
    host must not collide)."""
    return Field(
        default=default, ge=0, description="Port of /metrics and /health/* (0: any; unset: off)"
    )
