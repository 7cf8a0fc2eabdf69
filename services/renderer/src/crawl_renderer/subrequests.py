"""Fetching a page's own requests for its browser, so the browser connects nowhere itself.

Each request, and each redirect hop of it, is checked against the address policy (after DNS
resolution, with a reason that names the kind of address refused), waits for the job's
per-host politeness (``crawl_politeness.HostGate``), and is made through
``crawl_netguard.pinned_transport``: the connection goes to an address the policy admitted at
connect time, so DNS rebinding reaches nothing it may not. Answers are read up to a size cap.

Exceptions::

    RefusedError    the request may not be made (``reason`` says why); it is reported
    httpx.HTTPError the request was allowed but failed (connection, timeout): not reported
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from crawl_netguard import AddressPolicy, AddressRefusedError, Resolve, parse, resolve
from crawl_politeness import HostGate
from crawl_renderer.decisions import address_kind

__all__ = ["Answer", "RefusedError", "Subrequests"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Request headers the browser sets that httpx must set itself (or that would lie).
_DROPPED_REQUEST = frozenset(
    {"host", "content-length", "connection", "accept-encoding", "transfer-encoding", "upgrade"}
)
# Answer headers that describe the bytes on the wire, not the decoded body handed over.
_DROPPED_ANSWER = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}
)


class RefusedError(Exception):
    """The request may not be made: an address, a redirect or a size the rules refuse."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Subrequests:
    """Fetches the browser's requests with an injected client (``follow_redirects=False``,
    made with ``crawl_netguard.pinned_transport`` of the same ``policy``)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: AddressPolicy,
        *,
        max_bytes: int,
        max_redirects: int = 5,
        resolve: Resolve = resolve,
    ) -> None:
        self._client = client
        self._policy = policy
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._resolve = resolve

    async def refusal(self, url: str) -> str | None:
        """``None`` if the policy admits every address ``url``'s host resolves to, else why
        not (``address not allowed: link-local, cloud metadata (169.254.169.254)``)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").strip("[]")
        if not host:
            return "no host"
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return "invalid port"
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = parse(await self._resolve(host, port))
            except (OSError, UnicodeError, socket.gaierror) as exc:
                return f"dns error: {exc}"
        if not addresses:
            return "dns error: no address"
        for address in addresses:
            if not self._policy.permits(address):
                return f"address not allowed: {address_kind(address)} ({address})"
        return None

    async def fetch(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        gate: HostGate,
    ) -> Answer:
        """The answer to one request, redirects followed here (each hop checked and paced);
        ``RefusedError`` if a rule refuses it."""
        sent = {k: v for k, v in headers.items() if k.lower() not in _DROPPED_REQUEST}
        for _ in range(self._max_redirects + 1):
            reason = await self.refusal(url)
            if reason is not None:
                raise RefusedError(reason)
            async with gate.slot(url):
                answer, location = await self._one(method, url, sent, body)
            if location is None:
                return answer
            url = location
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, body = "GET", None
        raise RefusedError(f"more than {self._max_redirects} redirects")

    async def _one(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[Answer, str | None]:
        request = self._client.build_request(method, url, headers=headers, content=body)
        try:
            response = await self._client.send(request, stream=True)
        except AddressRefusedError as exc:  # the connect-time check (e.g. DNS rebinding)
            raise RefusedError(f"address not allowed: {exc}") from exc
        try:
            if response.status_code in _REDIRECTS and "location" in response.headers:
                return Answer(response.status_code, {}, b""), urljoin(
                    url, response.headers["location"]
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    raise RefusedError(f"larger than {self._max_bytes} bytes")
                chunks.append(chunk)
        finally:
            await response.aclose()
        kept = {k: v for k, v in response.headers.multi_items() if k.lower() not in _DROPPED_ANSWER}
        return Answer(response.status_code, kept, b"".join(chunks)), None
