"""The probe and metrics HTTP server every consumer service runs beside its work.

It answers ``GET /metrics`` (Prometheus text format, from the service's own registry),
``GET /health/live`` (the process answers) and ``GET /health/ready`` (every readiness check
passes: 200, else 503 with the failing checks named). It runs on the service's event loop, so
a check, and the refresh of gauges before a scrape, may await the broker or the database; it
serves a handful of scrapes and probes, nothing else. Metrics are auxiliary: a port that cannot
be bound is logged, and the service goes on without probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.exposition import generate_latest

__all__ = ["ObservabilityServer", "ReadinessCheck"]

log = structlog.get_logger("crawl_runtime.probes")

ReadinessCheck = Callable[[], Awaitable[bool]]
"""Answers whether a dependency is usable; raising, or taking over 3 s, counts as no."""

_REQUEST_SECONDS = 10
_CHECK_SECONDS = 3


class ObservabilityServer:
    """``/metrics``, ``/health/live`` and ``/health/ready`` on ``host:port`` (0: any free port,
    ``None``: switched off)."""

    def __init__(
        self,
        host: str,
        port: int | None,
        checks: Mapping[str, ReadinessCheck],
        *,
        registry: CollectorRegistry,
        before_scrape: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._checks = dict(checks)
        self._registry = registry
        self._before_scrape = before_scrape
        self._server: asyncio.Server | None = None

    @property
    def listening(self) -> bool:
        """Whether the server is bound and answering."""
        return self._server is not None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        if self._port is None:
            return  # switched off
        try:
            self._server = await asyncio.start_server(self._serve, self._host, self._port)
        except OSError as exc:  # metrics are auxiliary: the service still does its work
            log.warning("observability.unavailable", port=self._port, error=str(exc))
            return
        log.info("observability.listening", host=self._host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_REQUEST_SECONDS):
                request_line = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers are not needed
                method, _, rest = request_line.decode("latin-1").partition(" ")
                path = rest.split(" ", 1)[0].split("?", 1)[0]
                status, content_type, body = await self._route(method, path)
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/metrics":
            if self._before_scrape is not None:
                try:
                    await self._before_scrape()
                except Exception as exc:  # a scrape still shows the counters
                    log.warning("metrics.refresh_failed", error=str(exc)[:300])
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self._registry)
        if path == "/health/live":
            return "200 OK", "application/json", b'{"status": "ok"}'
        if path == "/health/ready":
            failing = [name for name, check in self._checks.items() if not await _passes(check)]
            body = {"status": "unavailable" if failing else "ok", "failing": failing}
            status = "503 Service Unavailable" if failing else "200 OK"
            return status, "application/json", json.dumps(body).encode()
        return "404 Not Found", "text/plain", b"not found\n"


async def _passes(check: ReadinessCheck) -> bool:
    try:
        async with asyncio.timeout(_CHECK_SECONDS):
            return await check()
    except Exception:
        return False
