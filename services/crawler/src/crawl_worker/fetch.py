"""Fetching one URL safely and politely.

- the address is checked on every hop (after DNS resolution), before the scope;
- redirects are followed by hand, with a hop limit and loop detection;
- HTML and XHTML only (others are ``skipped`` / ``content_type``);
- the body is read raw and inflated here, so both the size cap and the decompression-bomb
  guard hold while streaming and no chunk can inflate past the cap;
- connect / read timeouts come from the client, the total timeout from ``asyncio.timeout``;
- each request (every redirect hop) passes the per-host gate; 429 and 503 pause the host
  for ``Retry-After``;
  connection errors and 5xx are retried a bounded number of times with jittered backoff.

The result is a value, not an exception: every URL ends with an outcome and a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx

from crawl_contracts import Outcome
from crawl_politeness import HostGate, PolitenessLimits
from crawl_worker.safety import AddressGuard, AddressRefusedError
from crawl_worker.urls import normalize_url

__all__ = ["DOCUMENT_TYPES", "HTML_TYPES", "FetchLimits", "FetchResult", "Fetcher", "Validators"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Documents turned into markdown too (``documents``): fetched like pages, within the same caps.
DOCUMENT_TYPES = frozenset({"application/pdf", "application/x-pdf"})
_EXTRACTED_TYPES = HTML_TYPES | DOCUMENT_TYPES
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_RETRYABLE_REASONS = frozenset({"connect_error", "network_error"})
_BOMB_CHECK_AFTER = 1024 * 1024  # judge the compression ratio only past 1 MiB of output


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 10
    total_timeout: float = 30.0
    retries: int = 2
    retry_backoff: float = 0.5
    max_retry_after: float = 120.0
    max_compression_ratio: float = 200.0


@dataclass(frozen=True, slots=True)
class Validators:
    """An earlier answer's validators: what makes a request conditional (RFC 9110 13.1)."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        sent = {}
        if self.etag:
            sent["If-None-Match"] = self.etag
        if self.last_modified:
            sent["If-Modified-Since"] = self.last_modified
        return sent


@dataclass(frozen=True, slots=True)
class FetchResult:
    outcome: Outcome
    reason: str | None
    http_status: int | None = None
    final_url: str | None = None
    content_type: str | None = None
    body: bytes | None = None
    attempts: int = 1
    retry_after: float | None = None
    error: str | None = None  # the network error behind a failure, as the page record says
    etag: str | None = None  # the response's validators, for a later conditional request
    last_modified: str | None = None

    def cause(self) -> str:
        """Why the resource was not fetched, in a few words: ``HTTP 503``,
        ``connect_error: … Connection refused (errno 111)``."""
        if self.http_status is not None and self.outcome is not Outcome.SKIPPED:
            return f"HTTP {self.http_status}"
        if self.error:
            return f"{self.reason}: {self.error}"
        return self.reason or "no answer"


class _RefusedError(Exception):
    """The body cannot be read within the limits; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Fetcher:
    """Fetches HTML pages with an injected ``httpx.AsyncClient`` (``follow_redirects=False``;
    it should send ``Accept-Encoding: gzip, deflate``, the encodings inflated here)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        guard: AddressGuard,
        limits: FetchLimits,
        gate: HostGate | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._guard = guard
        self._limits = limits
        self._gate = gate or HostGate(PolitenessLimits(concurrency=1_000))
        self._sleep = sleep

    def use_gate(self, gate: HostGate) -> None:
        """Route later fetches through ``gate`` (built once robots.txt is reachable)."""
        self._gate = gate

    async def fetch(
        self,
        url: str,
        in_scope: Callable[[str], bool] = lambda _: True,
        validators: Validators | None = None,
    ) -> FetchResult:
        """A page. With ``validators`` (an earlier answer's ETag and Last-Modified) the request
        is conditional, and a ``304`` is ``Outcome.UNCHANGED`` (reason ``not_modified``)."""
        headers = validators.headers() if validators is not None else {}
        attempts = 0
        while True:
            attempts += 1
            result = await self._attempt(url, in_scope, any_type=False, headers=headers)
            if not self._retryable(result) or attempts > self._limits.retries:
                return replace(result, attempts=attempts)
            if result.retry_after is not None:
                if result.retry_after > self._limits.max_retry_after:
                    return replace(result, attempts=attempts)
                self._gate.pause(url, result.retry_after)
                continue  # the gate waits; no extra sleep
            wait = self._limits.retry_backoff * 2 ** (attempts - 1)
            wait *= 0.5 + random.random()  # noqa: S311 - jitter, not cryptography
            if result.http_status in (429, 503):
                self._gate.pause(url, wait)
            else:
                await self._sleep(wait)

    @staticmethod
    def _retryable(result: FetchResult) -> bool:
        if result.outcome is not Outcome.FAILED:
            return False
        if result.http_status is not None:
            return result.http_status in _RETRYABLE_STATUS
        return result.reason in _RETRYABLE_REASONS

    async def fetch_text(self, url: str) -> tuple[int | None, str]:
        """A small text resource (robots.txt): status and body; on network failure ``None``
        and what failed (``connect_error: … Connection refused (errno 111)``)."""
        result = await self._fetch_any(url)
        if result.http_status is None or result.outcome is Outcome.SKIPPED:
            return None, result.cause()
        return result.http_status, (result.body or b"").decode("utf-8", "replace")

    async def fetch_bytes(self, url: str) -> tuple[int | None, bytes]:
        """Any resource of any type (sitemaps): status and body, ``None`` on network failure."""
        result = await self._fetch_any(url)
        if result.http_status is None or result.outcome is Outcome.SKIPPED:
            return None, b""
        return result.http_status, result.body or b""

    async def _fetch_any(self, url: str) -> FetchResult:
        """Within the same safety limits as pages; connection errors and 5xx are retried like
        pages (an unreachable robots.txt closes the whole host, so one lost packet must not
        decide it)."""
        attempts = 0
        while True:
            attempts += 1
            result = await self._attempt(url, lambda _: True, any_type=True, gated=False)
            if not self._retryable(result) or attempts > self._limits.retries:
                return replace(result, attempts=attempts)
            await self._sleep(self._limits.retry_backoff * attempts)

    async def _attempt(
        self,
        url: str,
        in_scope: Callable[[str], bool],
        *,
        any_type: bool,
        gated: bool = True,
        headers: dict[str, str] | None = None,
    ) -> FetchResult:
        try:
            async with asyncio.timeout(self._limits.total_timeout):
                return await self._follow(
                    url, in_scope, any_type=any_type, gated=gated, headers=headers or {}
                )
        except TimeoutError:
            error = f"no complete answer within {self._limits.total_timeout:g} s"
            return FetchResult(Outcome.FAILED, "timeout", error=error)
        except httpx.RequestError as exc:
            if isinstance(exc.__cause__, AddressRefusedError):  # the name moved to a refused
                return FetchResult(Outcome.SKIPPED, "blocked_address")  # address meanwhile
            return FetchResult(Outcome.FAILED, _transport_reason(exc), error=_describe(exc))

    async def _follow(
        self,
        url: str,
        in_scope: Callable[[str], bool],
        *,
        any_type: bool,
        gated: bool,
        headers: dict[str, str],
    ) -> FetchResult:
        seen: set[str] = set()
        current = url
        status: int | None = None
        for _ in range(self._limits.max_redirects + 1):
            parts = urlsplit(current)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            refusal = await self._guard.refusal(parts.hostname or "", port)
            if refusal == "blocked_address":
                return FetchResult(Outcome.SKIPPED, refusal, status, current)
            if refusal is not None:
                return FetchResult(Outcome.FAILED, refusal, status, current)
            if current != url and not in_scope(current):
                return FetchResult(Outcome.SKIPPED, "out_of_scope", status, current)
            seen.add(current)
            # Every hop is a request to its host, so every hop passes that host's gate.
            # (robots.txt and sitemaps are not gated: the gate needs robots.txt first.)
            slot = self._gate.slot(current) if gated else contextlib.nullcontext()
            # Validators belong to the URL they were given for, not to a redirect's target.
            conditional = headers if current == url else {}
            async with slot, self._client.stream("GET", current, headers=conditional) as response:
                status = response.status_code
                if status in _REDIRECTS and "location" in response.headers:
                    try:
                        target = normalize_url(urljoin(current, response.headers["location"]))
                    except ValueError:
                        return FetchResult(Outcome.FAILED, "bad_redirect", status, current)
                    if target in seen:
                        return FetchResult(Outcome.FAILED, "redirect_loop", status, current)
                    current = target
                    continue
                if status == 304 and conditional:
                    return FetchResult(
                        Outcome.UNCHANGED,
                        "not_modified",
                        status,
                        current,
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                    )
                return await self._read(response, current, any_type=any_type)
        return FetchResult(Outcome.FAILED, "too_many_redirects", status, current)

    async def _read(self, response: httpx.Response, url: str, *, any_type: bool) -> FetchResult:
        status = response.status_code
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if status == 304:  # "not modified", though nothing was asked conditionally
            return FetchResult(Outcome.FAILED, f"http_{status}", status, url, content_type)
        if status >= 400:
            retry_after = (
                _retry_after(response.headers.get("retry-after")) if status in (429, 503) else None
            )
            return FetchResult(
                Outcome.FAILED,
                f"http_{status}",
                status,
                url,
                content_type,
                retry_after=retry_after,
            )
        if not any_type and content_type not in _EXTRACTED_TYPES:
            return FetchResult(Outcome.SKIPPED, "content_type", status, url, content_type)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._limits.max_bytes:
            return FetchResult(Outcome.SKIPPED, "too_large", status, url, content_type)
        try:
            body = await self._body(response)
        except _RefusedError as refused:
            outcome = Outcome.FAILED if refused.reason == "decoding_error" else Outcome.SKIPPED
            return FetchResult(outcome, refused.reason, status, url, content_type)
        return FetchResult(
            Outcome.FETCHED,
            None,
            status,
            url,
            content_type,
            body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )

    async def _body(self, response: httpx.Response) -> bytes:
        """The decoded body, refused as soon as it passes a limit."""
        limit = self._limits.max_bytes
        encodings = [
            e.strip().lower()
            for e in response.headers.get("content-encoding", "").split(",")
            if e.strip() and e.strip().lower() != "identity"
        ]
        if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "x-gzip", "deflate")):
            raise _RefusedError("decoding_error")
        inflater = _Inflater(encodings[0]) if encodings else None
        chunks: list[bytes] = []
        size = 0
        raw = 0
        async for received in response.aiter_raw():
            raw += len(received)
            chunk = received if inflater is None else inflater.feed(received, limit - size + 1)
            size += len(chunk)
            if size > limit:
                if inflater is not None and size > raw * self._limits.max_compression_ratio:
                    raise _RefusedError("decompression_bomb")
                raise _RefusedError("too_large")
            if (
                inflater is not None
                and size > _BOMB_CHECK_AFTER
                and size > raw * self._limits.max_compression_ratio
            ):
                raise _RefusedError("decompression_bomb")
            chunks.append(chunk)
        return b"".join(chunks)


class _Inflater:
    """gzip / zlib / raw deflate, never producing more than asked for per call."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        # 32 + 15: gzip or zlib header, detected; raw deflate is tried if that fails.
        self._zlib = zlib.decompressobj(wbits=47)
        self._started = False

    def feed(self, data: bytes, max_length: int) -> bytes:
        try:
            out = self._zlib.decompress(data, max_length)
        except zlib.error:
            if self._encoding != "deflate" or self._started:
                raise _RefusedError("decoding_error") from None
            self._zlib = zlib.decompressobj(wbits=-15)
            try:
                out = self._zlib.decompress(data, max_length)
            except zlib.error:
                raise _RefusedError("decoding_error") from None
        self._started = True
        # Output beyond max_length stays in unconsumed_tail: the caller refuses the body
        # once the cap is passed, so it is never inflated.
        return out


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); ``None`` if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe(exc: httpx.RequestError) -> str:
    """A network error in the words of the system call under it where there is one
    (``All connection attempts failed: Connection refused (errno 111)``),
    bounded as the page record's ``error``."""
    text = str(exc) or type(exc).__name__
    inner: BaseException | None = exc
    seen = 0
    while inner is not None and seen < 10:  # the innermost OSError with an errno says why
        if isinstance(inner, OSError) and inner.errno is not None:
            text = f"{text}: {os.strerror(inner.errno)} (errno {inner.errno})"
            break
        inner = inner.__cause__ or inner.__context__
        seen += 1
    return text[:300]


def _transport_reason(exc: httpx.RequestError) -> str:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "connect_error"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.DecodingError):
        return "decoding_error"
    return "network_error"
