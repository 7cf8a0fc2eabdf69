"""The services (API, status, crawlers, renderers) as real processes, wired to one private
virtual host and database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from crawl_stack.services import Services

__all__ = ["LOGS", "TOKEN", "Stack", "free_port", "running_stack", "stack_env"]

TOKEN = "e2e-token"  # noqa: S105 - a throwaway credential of private test stacks
"""The bearer token the stack's API accepts (principal ``e2e`` of tenant ``e2e``)."""

# A workspace member is installed editable: its source sits under the checkout's libs/stack/src.
LOGS = Path(__file__).resolve().parents[4] / ".local" / "logs" / "e2e"
"""Where the processes' output goes unless a stack is given a folder of its own."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """Running service processes: each writes ``<logs>/<name>.log``."""

    api_url: str
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    metrics_urls: dict[str, str] = field(default_factory=dict)  # process name -> /metrics base
    logs: Path = LOGS

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def start(
        self, name: str, module: str, *, argv_prefix: Sequence[str] = (), **extra_env: str
    ) -> subprocess.Popen[bytes]:
        """Run ``python -m module`` as ``name``; ``argv_prefix`` runs it through a wrapper
        that execs it (e.g. ``taskset -c 0``: the process keeps its pid)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, a module we name
            [*argv_prefix, sys.executable, "-m", module],
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {self.logs}")
            try:
                if httpx.get(f"{self.api_url}/health/ready", timeout=1).status_code == 200 and all(
                    httpx.get(f"{url}/health/ready", timeout=1).status_code == 200
                    for url in self.metrics_urls.values()
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API was not ready within {timeout} s; see {self.logs}")


def stack_env(
    services: Services, api_port: int, extra_env: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of every service process on the run's vhost and database (the API on
    ``api_port``, loopback test sites allowed); ``extra_env`` adds or overrides variables."""
    return {
        **os.environ,
        "CRAWL_API_RABBITMQ_URL": services.rabbitmq_url,
        "CRAWL_API_MONGODB_URL": services.mongodb_url,
        "CRAWL_API_MONGODB_DATABASE": services.database,
        "CRAWL_API_PORT": str(api_port),
        "CRAWL_API_TOKENS": json.dumps({TOKEN: {"user": "e2e", "tenant": "e2e"}}),
        "CRAWL_WORKER_RABBITMQ_URL": services.rabbitmq_url,
        "CRAWL_WORKER_ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8"]),
        "CRAWL_WORKER_EXTRACT_PROCESSES": "1",
        "CRAWL_WORKER_MONGODB_URL": services.mongodb_url,
        "CRAWL_WORKER_MONGODB_DATABASE": services.database,
        "CRAWL_STATUS_RABBITMQ_URL": services.rabbitmq_url,
        "CRAWL_STATUS_MONGODB_URL": services.mongodb_url,
        "CRAWL_STATUS_MONGODB_DATABASE": services.database,
        "CRAWL_RENDERER_RABBITMQ_URL": services.rabbitmq_url,
        "CRAWL_RENDERER_ALLOWED_NETWORKS": json.dumps(["127.0.0.0/8"]),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }


@contextmanager
def running_stack(
    services: Services,
    *,
    workers: int = 1,
    renderers: int = 1,
    extra_env: dict[str, str] | None = None,
    logs: Path = LOGS,
    worker_argv_prefix: Callable[[int], Sequence[str]] | None = None,
) -> Iterator[Stack]:
    """The services on the run's vhost and database: the status service, ``workers``
    crawlers, ``renderers`` renderers (``renderer-<i>``, Debian's ``/usr/bin/chromium``
    unless ``CRAWL_RENDERER_CHROMIUM_PATH`` says otherwise) and the API. ``extra_env`` adds
    or overrides environment variables (e.g. crawler limits) for every process; ``logs`` is
    the folder of their output; ``worker_argv_prefix(i)`` is the wrapper crawler ``i`` is
    started through (e.g. ``["taskset", "-c", str(i)]``)."""
    port = free_port()
    env = stack_env(services, port, extra_env)
    stack = Stack(f"http://127.0.0.1:{port}", env, logs=logs)
    try:
        status_port = free_port()
        stack.metrics_urls["status"] = f"http://127.0.0.1:{status_port}"
        stack.start("status", "crawl_status", CRAWL_STATUS_METRICS_PORT=str(status_port))
        for i in range(workers):
            crawler_port = free_port()
            stack.metrics_urls[f"crawler-{i}"] = f"http://127.0.0.1:{crawler_port}"
            stack.start(
                f"crawler-{i}",
                "crawl_worker",
                argv_prefix=worker_argv_prefix(i) if worker_argv_prefix else (),
                CRAWL_WORKER_WORKER_ID=f"e2e-crawler-{i}",
                CRAWL_WORKER_METRICS_PORT=str(crawler_port),
            )
        for i in range(renderers):
            renderer_port = free_port()
            stack.metrics_urls[f"renderer-{i}"] = f"http://127.0.0.1:{renderer_port}"
            stack.start(
                f"renderer-{i}",
                "crawl_renderer",
                CRAWL_RENDERER_RENDERER_ID=f"e2e-renderer-{i}",
                CRAWL_RENDERER_METRICS_PORT=str(renderer_port),
            )
        stack.start("api", "crawl_api")
        stack.wait_ready()
        yield stack
    finally:
        for name in list(stack.processes):
            stack.kill(name)
