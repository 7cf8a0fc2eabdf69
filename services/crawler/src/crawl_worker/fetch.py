"""Fetching one URL safely: address check on every hop, manual redirects with loop detection,
content-type allow-list, a size cap enforced while streaming, and a total timeout.

The result is a value, not an exception: every URL ends with an outcome and a reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from crawl_contracts import Outcome
from crawl_worker.safety import AddressGuard
from crawl_worker.urls import normalize_url

__all__ = ["FetchLimits", "FetchResult", "Fetcher"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_STATUS = frozenset({500, 502, 503, 504, 429})


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 10
    total_timeout: float = 30.0
    retries: int = 2
    retry_backoff: float = 0.5


@dataclass(frozen=True, slots=True)
class FetchResult:
    outcome: Outcome
    reason: str | None
    http_status: int | None = None
    final_url: str | None = None
    content_type: str | None = None
    body: bytes | None = None
    attempts: int = 1


class Fetcher:
    """Fetches HTML pages with an injected ``httpx.AsyncClient`` (``follow_redirects=False``)."""

    def __init__(self, client: httpx.AsyncClient, guard: AddressGuard, limits: FetchLimits) -> None:
        self._client = client
        self._guard = guard
        self._limits = limits

    async def fetch(
        self, url: str, in_scope: Callable[[str], bool] = lambda _: True
    ) -> FetchResult:
        attempts = 0
        while True:
            attempts += 1
            try:
                async with asyncio.timeout(self._limits.total_timeout):
                    result = await self._follow(url, in_scope)
            except TimeoutError:
                result = FetchResult(Outcome.FAILED, "timeout")
            except httpx.RequestError as exc:
                result = FetchResult(Outcome.FAILED, _transport_reason(exc))
            retry = result.outcome is Outcome.FAILED and (
                result.http_status in _RETRYABLE_STATUS
                or (result.http_status is None and result.reason in ("connect_error", "timeout"))
            )
            if not retry or attempts > self._limits.retries:
                return _with_attempts(result, attempts)
            await asyncio.sleep(self._limits.retry_backoff * attempts)

    async def fetch_text(self, url: str) -> tuple[int | None, str]:
        """A small text resource (robots.txt): status and body, ``None`` on network failure."""
        result = await self.fetch_any(url)
        if result.http_status is None:
            return None, ""
        return result.http_status, (result.body or b"").decode("utf-8", "replace")

    async def fetch_any(self, url: str) -> FetchResult:
        try:
            async with asyncio.timeout(self._limits.total_timeout):
                return await self._follow(url, lambda _: True, any_type=True)
        except (TimeoutError, httpx.RequestError):
            return FetchResult(Outcome.FAILED, "network_error")

    async def _follow(
        self, url: str, in_scope: Callable[[str], bool], *, any_type: bool = False
    ) -> FetchResult:
        seen: set[str] = set()
        current = url
        for _ in range(self._limits.max_redirects + 1):
            parts = urlsplit(current)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            refusal = await self._guard.refusal(parts.hostname or "", port)
            if refusal == "blocked_address":
                return FetchResult(Outcome.SKIPPED, refusal, final_url=current)
            if refusal is not None:
                return FetchResult(Outcome.FAILED, refusal, final_url=current)
            seen.add(current)
            async with self._client.stream("GET", current) as response:
                status = response.status_code
                if status in _REDIRECTS and "location" in response.headers:
                    try:
                        target = normalize_url(urljoin(current, response.headers["location"]))
                    except ValueError:
                        return FetchResult(Outcome.FAILED, "bad_redirect", status, current)
                    if target in seen:
                        return FetchResult(Outcome.FAILED, "redirect_loop", status, current)
                    if not in_scope(target):
                        return FetchResult(Outcome.SKIPPED, "out_of_scope", status, target)
                    current = target
                    continue
                return await self._read(response, current, any_type=any_type)
        return FetchResult(Outcome.FAILED, "too_many_redirects", None, current)

    async def _read(self, response: httpx.Response, url: str, *, any_type: bool) -> FetchResult:
        status = response.status_code
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if status >= 400:
            return FetchResult(Outcome.FAILED, f"http_{status}", status, url, content_type)
        if not any_type and content_type not in HTML_TYPES:
            return FetchResult(Outcome.SKIPPED, "content_type", status, url, content_type)
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._limits.max_bytes:
            return FetchResult(Outcome.SKIPPED, "too_large", status, url, content_type)
        chunks: list[bytes] = []
        size = 0
        # aiter_bytes decodes Content-Encoding, so the cap bounds the inflated size too: a
        # gzip bomb stops at max_bytes of output.
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._limits.max_bytes:
                return FetchResult(Outcome.SKIPPED, "too_large", status, url, content_type)
            chunks.append(chunk)
        return FetchResult(Outcome.FETCHED, None, status, url, content_type, b"".join(chunks))


def _transport_reason(exc: httpx.RequestError) -> str:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "connect_error"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.DecodingError):
        return "decoding_error"
    return "network_error"


def _with_attempts(result: FetchResult, attempts: int) -> FetchResult:
    return FetchResult(
        result.outcome,
        result.reason,
        result.http_status,
        result.final_url,
        result.content_type,
        result.body,
        attempts,
    )
