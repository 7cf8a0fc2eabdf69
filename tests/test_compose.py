"""docker-compose.yml cannot drift from the code: every service, Dockerfile and environment
variable it names exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from crawl_api.settings import ApiSettings
from crawl_renderer.settings import RendererSettings
from crawl_status.settings import StatusSettings
from crawl_worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS: dict[str, type[BaseSettings]] = {
    "CRAWL_API_": ApiSettings,
    "CRAWL_WORKER_": WorkerSettings,
    "CRAWL_STATUS_": StatusSettings,
    "CRAWL_RENDERER_": RendererSettings,
}
MODULES = {
    "api": "crawl_api",
    "crawler": "crawl_worker",
    "status": "crawl_status",
    "renderer": "crawl_renderer",
}


def test_compose_runs_the_brokers_and_the_four_services_with_health_checks() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"rabbitmq", "mongo", "api", "crawler", "status", "renderer"}
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.13")
    assert services["mongo"]["image"] == "mongo:7"
    assert all("healthcheck" in s for s in services.values())


def test_compose_runs_replicas_as_the_cluster_manifests_do() -> None:
    services = COMPOSE["services"]
    replicas = {name: services[name].get("deploy", {}).get("replicas", 1) for name in MODULES}
    assert replicas == {"api": 2, "crawler": 2, "status": 2, "renderer": 1}
    # Each API replica gets a host port of its own from the range.
    (published,) = services["api"]["ports"]
    low, high = published.split(":")[0].split("-")
    assert int(high) - int(low) + 1 == replicas["api"]
    # The status partitions need the consistent-hash exchange plugin in the broker.
    (plugins,) = services["rabbitmq"]["volumes"]
    source = ROOT / plugins.split(":")[0]
    assert "rabbitmq_consistent_hash_exchange" in source.read_text()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_service_builds_from_an_existing_dockerfile_running_its_module(name: str) -> None:
    build = COMPOSE["services"][name]["build"]
    dockerfile = ROOT / build["context"] / build["dockerfile"]
    text = dockerfile.read_text()
    assert f'"-m", "{MODULES[name]}"' in text
    importlib.import_module(f"{MODULES[name]}.__main__")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_environment_variable_is_a_setting_of_its_service(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = COMPOSE["services"][name]["environment"]
    for variable, value in environment.items():
        if not variable.startswith("CRAWL_"):
            continue
        prefix = re.match(r"CRAWL_[A-Z]+_", variable)
        assert prefix is not None
        settings = SETTINGS[prefix.group()]
        field = variable.removeprefix(prefix.group()).lower()
        assert field in settings.model_fields, f"{variable} is not a setting of {settings}"
        monkeypatch.setenv(variable, str(value))
    for env_prefix, service_settings in SETTINGS.items():
        if any(v.startswith(env_prefix) for v in environment):
            service_settings()  # every value is valid as the service would read it
