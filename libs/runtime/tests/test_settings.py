"""The shared settings groups take each service's own prefix and keep their defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from crawl_runtime.settings import (
    BrokerSettings,
    DatabaseSettings,
    LogSettings,
    ProbeSettings,
    metrics_port_field,
)


class _ServiceSettings(BrokerSettings, DatabaseSettings, ProbeSettings, LogSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRAWL_TEST_", env_nested_delimiter="__")

    metrics_port: int | None = metrics_port_field(9199)


def test_defaults_point_at_local_services(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RABBITMQ_URL", "MONGODB_URL", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)  # an unprefixed variable is not a setting
    settings = _ServiceSettings()
    assert settings.rabbitmq_url == "amqp://guest:guest@127.0.0.1:5672/"
    assert settings.mongodb_url == "mongodb://127.0.0.1:27017/"
    assert settings.mongodb_database == "crawl"
    assert settings.log_level == "INFO"
    assert settings.log_json is None
    assert settings.metrics_host == "127.0.0.1"
    assert settings.metrics_port == 9199


def test_every_field_reads_the_services_prefixed_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAWL_TEST_RABBITMQ_URL", "amqp://u:p@broker:5672/")
    monkeypatch.setenv("CRAWL_TEST_MONGODB_DATABASE", "other")
    monkeypatch.setenv("CRAWL_TEST_LOG_JSON", "false")
    monkeypatch.setenv("CRAWL_TEST_METRICS_PORT", "0")
    settings = _ServiceSettings()
    assert settings.rabbitmq_url == "amqp://u:p@broker:5672/"
    assert settings.mongodb_database == "other"
    assert settings.log_json is False
    assert settings.metrics_port == 0


def test_the_probe_port_is_not_negative() -> None:
    with pytest.raises(ValidationError):
        _ServiceSettings(metrics_port=-1)
    assert _ServiceSettings(metrics_port=None).metrics_port is None
