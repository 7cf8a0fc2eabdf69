"""The Kubernetes manifests (deploy/k8s) are valid without a cluster, and cannot drift from the
code: the Go validator (deploy/k8s/validate) builds both overlays with kustomize and decodes
every object strictly against the Kubernetes API types, and these tests check what only the
Python side knows (settings names, ports, queue names)."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from crawl_api.settings import ApiSettings
from crawl_contracts import routing
from crawl_status.settings import StatusSettings
from crawl_worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = [K8S / "overlays" / "dev", K8S / "overlays" / "production"]
SECRET_TEMPLATE = BASE / "secret.example.yaml"
VALIDATOR = ROOT / ".local" / "bin" / "k8s-validate"

# The first build on a machine with an empty module cache downloads the modules and compiles
# kustomize and k8s.io/api: minutes on two shared cores.
pytestmark = pytest.mark.timeout(900)
BUILD_SECONDS = 600

# Deployment -> (its ConfigMap's env file, settings prefix, module run).
SERVICES = {
    "api": ("api.env", "CRAWL_API_", "crawl_api"),
    "crawler": ("crawler.env", "CRAWL_WORKER_", "crawl_worker"),
    "status": ("status.env", "CRAWL_STATUS_", "crawl_status"),
    "renderer": ("renderer.env", "CRAWL_RENDERER_", "crawl_renderer"),
}


def _settings(deployment: str) -> type[BaseSettings] | None:
    """The service's settings class; None for the renderer where its package is not part of the
    workspace yet (it arrives with the renderer branch)."""
    known: dict[str, type[BaseSettings]] = {
        "api": ApiSettings,
        "crawler": WorkerSettings,
        "status": StatusSettings,
    }
    if deployment in known:
        return known[deployment]
    try:
        module = importlib.import_module("crawl_renderer.settings")
    except ModuleNotFoundError:
        return None
    settings: type[BaseSettings] = module.RendererSettings
    return settings


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _deployments() -> dict[str, dict[str, Any]]:
    found = {}
    for name in SERVICES:
        for doc in _documents(BASE / f"{name}.yaml"):
            if doc["kind"] == "Deployment":
                found[doc["metadata"]["name"]] = doc
    return found


def _env_file(name: str) -> dict[str, str]:
    lines = (BASE / "config" / name).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _go_tool(name: str) -> str:
    """A Go tool's path: missing, it fails the test in CI and skips it elsewhere."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is needed to validate deploy/k8s (the validator is a Go program)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + ": install Go on the CI machine")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def validator() -> Path:
    """The validator, built once per run into .local/bin (Go's build cache makes a rebuild of
    unchanged sources take about two seconds)."""
    go = _go_tool("go")
    VALIDATOR.parent.mkdir(parents=True, exist_ok=True)
    built = subprocess.run(
        [go, "build", "-mod=readonly", "-buildvcs=false", "-o", str(VALIDATOR), "."],
        cwd=K8S / "validate",
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    assert built.returncode == 0, f"go build failed:\n{built.stdout}{built.stderr}"
    return VALIDATOR


def _validate(validator: Path, *overlays: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(validator), "-external", str(SECRET_TEMPLATE), *map(str, overlays)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_both_overlays_build_and_pass_every_check(validator: Path) -> None:
    result = _validate(validator, *OVERLAYS)
    assert result.returncode == 0, result.stdout + result.stderr
    for overlay in OVERLAYS:
        assert re.search(rf"^{re.escape(str(overlay))}: ok \(\d+ objects\)$", result.stdout, re.M)


# Each breaks the dev overlay in one way a reviewer would refuse; the validator must name it.
BREAKAGES = {
    "missing_liveness_probe": (
        "Deployment",
        "crawler",
        [{"op": "remove", "path": "/spec/template/spec/containers/0/livenessProbe"}],
        'Deployment/crawler: container "crawler": no livenessProbe',
    ),
    "misspelt_field": (
        "Deployment",
        "api",
        [
            {
                "op": "add",
                "path": "/spec/template/spec/containers/0/readinessprobe",
                "value": {"httpGet": {"path": "/health/ready", "port": "http"}},
            }
        ],
        'unknown field "spec.template.spec.containers[0].readinessprobe"',
    ),
    "probe_on_a_port_the_container_lacks": (
        "Deployment",
        "status",
        [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/port",
                "value": "metrics",
            }
        ],
        'container "status": readinessProbe port metrics is not a port of the container',
    ),
    "port_name_the_api_server_refuses": (
        "Deployment",
        "crawler",
        [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/ports/0/name",
                "value": "probes-and-metrics",
            }
        ],
        'port name "probes-and-metrics": must be no more than 15 characters',
    ),
    "unpinned_image": (
        "Deployment",
        "renderer",
        [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": "crawl-platform/renderer:latest",
            }
        ],
        "is not pinned (:latest)",
    ),
    "no_memory_limit": (
        "Deployment",
        "crawler",
        [{"op": "remove", "path": "/spec/template/spec/containers/0/resources/limits/memory"}],
        'container "crawler": no memory limit',
    ),
    "budget_selecting_nothing": (
        "PodDisruptionBudget",
        "api",
        [
            {
                "op": "replace",
                "path": "/spec/selector/matchLabels/app.kubernetes.io~1name",
                "value": "apx",
            }
        ],
        "Deployment/api: no PodDisruptionBudget selects its pods",
    ),
    "scaler_of_a_missing_deployment": (
        "ScaledObject",
        "crawler",
        [{"op": "replace", "path": "/spec/scaleTargetRef/name", "value": "crawlers"}],
        "ScaledObject/crawler: scales Deployment/crawlers, which the build does not define",
    ),
    "unknown_secret_key": (
        "TriggerAuthentication",
        "rabbitmq",
        [{"op": "replace", "path": "/spec/secretTargetRef/0/key", "value": "amqp-url"}],
        'refers to key "amqp-url" of Secret "crawl-platform-secrets"',
    ),
}


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_validator_names_a_broken_manifest(
    validator: Path, tmp_path: Path, breakage: str
) -> None:
    kind, name, operations, expected = BREAKAGES[breakage]
    overlay = tmp_path / "broken"
    overlay.mkdir()
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # kustomize refuses absolute paths to bases
        "resources": [os.path.relpath(OVERLAYS[0], overlay)],
        "patches": [{"target": {"kind": kind, "name": name}, "patch": yaml.safe_dump(operations)}],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    result = _validate(validator, overlay)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in result.stdout, result.stdout


@pytest.mark.parametrize("deployment", sorted(SERVICES))
def test_each_config_variable_is_a_valid_setting_of_its_service(
    deployment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file, prefix, _ = SERVICES[deployment]
    variables = _env_file(env_file)
    container = _deployments()[deployment]["spec"]["template"]["spec"]["containers"][0]
    secret_variables = [e["name"] for e in container.get("env", [])]
    assert all(v.startswith(prefix) for v in [*variables, *secret_variables])
    settings = _settings(deployment)
    if settings is None:  # its settings are not in this workspace: check the names' shape only
        return
    for variable in [*variables, *secret_variables]:
        field = variable.removeprefix(prefix).lower()
        assert field in settings.model_fields, f"{variable} is not a setting of {settings}"
    for variable, value in variables.items():
        monkeypatch.setenv(variable, value)
    settings()  # every value is valid as the service would read it


@pytest.mark.parametrize("deployment", sorted(SERVICES))
def test_probes_ask_the_port_and_paths_the_service_serves(deployment: str) -> None:
    env_file, prefix, module = SERVICES[deployment]
    variables = _env_file(env_file)
    container = _deployments()[deployment]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", module]
    (port,) = container["ports"]
    if deployment == "api":
        assert (variables[f"{prefix}HOST"], int(variables[f"{prefix}PORT"])) == ("0.0.0.0", 8000)
        assert port["containerPort"] == 8000
    else:  # the probe server binds 127.0.0.1 by default, where the kubelet cannot reach it
        assert variables[f"{prefix}METRICS_HOST"] == "0.0.0.0"
        assert port["containerPort"] == int(variables[f"{prefix}METRICS_PORT"])
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": port["name"]}
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/health/ready",
        "port": port["name"],
    }


def test_the_crawler_extraction_pool_fits_its_cpu_limit() -> None:
    container = _deployments()["crawler"]["spec"]["template"]["spec"]["containers"][0]
    processes = int(_env_file("crawler.env")["CRAWL_WORKER_EXTRACT_PROCESSES"])
    assert processes == int(container["resources"]["limits"]["cpu"])


def test_keda_scales_on_the_work_queues_the_contracts_name() -> None:
    triggers = {
        doc["metadata"]["name"]: doc["spec"]["triggers"]
        for doc in _documents(BASE / "scaling.yaml")
        if doc["kind"] == "ScaledObject"
    }
    assert [t["metadata"]["queueName"] for t in triggers["crawler"]] == [
        routing.CRAWLER_REQUESTS_QUEUE,
        routing.EXTRACT_REQUESTS_QUEUE,  # one crawl's pages, extracted by every crawler
    ]
    renderer_queue = getattr(routing, "RENDERER_REQUESTS_QUEUE", "renderer.requests")
    assert [t["metadata"]["queueName"] for t in triggers["renderer"]] == [renderer_queue]
    # One crawler per CRAWL_WORKER_MAX_JOBS waiting crawls.
    max_jobs = _env_file("crawler.env")["CRAWL_WORKER_MAX_JOBS"]
    assert triggers["crawler"][0]["metadata"]["value"] == max_jobs


def test_the_validator_source_is_gofmt_formatted() -> None:
    unformatted = subprocess.run(
        [_go_tool("gofmt"), "-l", "."],
        cwd=K8S / "validate",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert unformatted == [], f"run gofmt -w on {unformatted}"
