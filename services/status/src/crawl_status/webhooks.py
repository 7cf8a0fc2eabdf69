"""Webhook deliveries: an outbox in MongoDB, drained by a dispatcher that signs and retries.

``WebhookOutbox.enqueue(message)`` runs after a message is projected: when the job asked for
that event, one delivery document is inserted with ``_id = <job>:<message id>`` (a redelivered
message adds nothing). The payload is fixed at that moment so every retry sends the same bytes.

``WebhookDispatcher`` polls due deliveries, claims each (compare-and-set on its due time, so
several status replicas never send one attempt twice), POSTs it signed per Standard Webhooks
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`` with the tenant's secret), and records the attempt. Failures are retried
with exponential backoff up to a limit, then the delivery is ``failed``.

Webhook URLs obey the address policy the crawler obeys (``crawl_netguard.AddressPolicy``,
built from ``webhook_allowed_networks``): every address the host resolves to must be
public unless the operator allow-list admits it; redirects are not followed. The rule is
checked before each attempt (so a refusal is recorded as such) and again when the connection
is made, by ``PinnedBackend``, which connects to the very address it checked: a name that
resolves to a public address for the check and a private one for the connect (DNS
rebinding) reaches nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crawl_contracts import (
    CrawlCancelled,
    CrawlCompleted,
    CrawlFailed,
    CrawlRequested,
    CrawlStarted,
    Message,
    PageRecorded,
    WebhookEvent,
)
from crawl_contracts.envelope import utcnow
from crawl_netguard import AddressPolicy, PinnedBackend, Resolve, parse, pinned_transport, resolve
from crawl_schema import names
from crawl_schema.keys import delivery_id
from crawl_schema.queries import due_deliveries
from crawl_status.settings import StatusSettings

__all__ = [
    "PinnedBackend",
    "WebhookDispatcher",
    "WebhookOutbox",
    "refusal",
    "sign",
    "webhook_client",
]

log = structlog.get_logger("crawl_status")

_EVENTS: dict[type[Any], WebhookEvent] = {
    CrawlStarted: WebhookEvent.STARTED,
    PageRecorded: WebhookEvent.PAGE,
    CrawlCompleted: WebhookEvent.COMPLETED,
    CrawlFailed: WebhookEvent.FAILED,
    CrawlCancelled: WebhookEvent.CANCELLED,
}


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one delivery (Standard Webhooks, scheme v1)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


async def refusal(policy: AddressPolicy, url: str, *, resolve: Resolve = resolve) -> str | None:
    """``None`` if every address the URL's host resolves to is one ``policy`` permits, else
    why the delivery is refused (recorded on the attempt)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = parse(await resolve(host, port))
    except (OSError, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode
        return f"cannot resolve {host}: {exc}"
    for address in addresses:
        if not policy.permits(address):
            return f"{host} resolves to {address}, which webhooks may not reach"
    return None


def webhook_client(
    policy: AddressPolicy, *, timeout: float, resolve: Resolve = resolve
) -> httpx.AsyncClient:
    """The HTTP client of deliveries: no redirects, no proxies from the environment, and
    every connection made through :class:`PinnedBackend` under ``policy``."""
    return httpx.AsyncClient(
        transport=pinned_transport(policy.permits, resolve=resolve),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


class WebhookOutbox:
    """Turns projected messages into pending deliveries for jobs that asked for them."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.crawls = database[names.CRAWLS]
        self.deliveries = database[names.WEBHOOK_DELIVERIES]
        self._specs: OrderedDict[str, dict[str, Any] | None] = OrderedDict()

    async def _spec(self, job_id: str) -> dict[str, Any] | None:
        if job_id in self._specs:
            self._specs.move_to_end(job_id)
            return self._specs[job_id]
        doc = await self.crawls.find_one({"_id": job_id}, {"request.webhook": 1})
        if doc is None:
            return None  # not projected yet: do not cache
        spec = (doc.get("request") or {}).get("webhook")
        self._remember(job_id, spec)
        return spec

    def _remember(self, job_id: str, spec: dict[str, Any] | None) -> None:
        self._specs[job_id] = spec
        self._specs.move_to_end(job_id)
        if len(self._specs) > 10_000:
            self._specs.popitem(last=False)

    async def enqueue(self, message: Message) -> None:
        if isinstance(message, CrawlRequested):  # the job's request, without a read
            webhook = message.request.webhook
            self._remember(message.job_id, webhook.model_dump(mode="json") if webhook else None)
            return
        events = _events_of(message)
        if not events:
            return
        spec = await self._spec(message.job_id)
        if not spec:
            return
        for event in events:
            if event.value in spec.get("events", ()):
                await self._deliver(message, event, spec)

    async def _deliver(self, message: Message, event: WebhookEvent, spec: dict[str, Any]) -> None:
        now = utcnow()
        payload = {
            "type": f"crawl.{event.value}",
            "timestamp": message.occurred_at.isoformat().replace("+00:00", "Z"),
            "data": _data(message),
        }
        # One delivery per message and event (a page may be both ``page`` and ``page.changed``)
        key = (
            message.message_id
            if event is _EVENTS.get(type(message))
            else (f"{message.message_id}.{event.value}")
        )
        with contextlib.suppress(DuplicateKeyError):  # a redelivered message
            await self.deliveries.insert_one(
                {
                    "_id": delivery_id(message.job_id, key),
                    "webhook_id": f"msg_{key}",
                    "job_id": message.job_id,
                    "tenant": message.tenant,
                    "event": event.value,
                    "url": spec["url"],
                    "body": json.dumps(payload, separators=(",", ":"), default=str),
                    "state": "pending",
                    "attempts": [],
                    "created_at": now,
                    "next_attempt_at": now,
                }
            )


def _events_of(message: Message) -> list[WebhookEvent]:
    """The webhook events a message stands for: its own, and ``page.changed`` for a
    re-crawl's page that is new or whose text changed."""
    event = _EVENTS.get(type(message))
    if event is None:
        return []
    if isinstance(message, PageRecorded) and message.change in ("added", "changed"):
        return [event, WebhookEvent.PAGE_CHANGED]
    return [event]


def _data(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"job_id": message.job_id, "attempt": message.attempt}
    if isinstance(message, PageRecorded):
        # Without the page's text and links: a delivery says what happened, the API has the rest
        data |= message.model_dump(mode="json", exclude={"markdown", "links", "type", "message_id"})
        data.pop("tenant", None)
    elif isinstance(message, CrawlCompleted | CrawlFailed | CrawlCancelled):
        data["status"] = _EVENTS[type(message)].value
        data["stop_reason"] = message.stop_reason.value
        data["counters"] = message.counters.model_dump()
        if isinstance(message, CrawlFailed):
            data["error"] = {"code": message.error_code, "message": message.error}
    return data


class WebhookDispatcher:
    """Sends due deliveries; run ``run()`` as a task and cancel it to stop."""

    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        settings: StatusSettings,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.deliveries = database[names.WEBHOOK_DELIVERIES]
        self.settings = settings
        self.policy = AddressPolicy(settings.webhook_allowed_networks)
        self.client = client or webhook_client(self.policy, timeout=settings.webhook_timeout)

    async def run(self) -> None:
        while True:
            try:
                sent = await self.dispatch_due()
            except Exception:
                log.exception("webhooks.dispatch_failed")
                sent = 0
            if not sent:
                await asyncio.sleep(self.settings.webhook_poll_interval)

    async def close(self) -> None:
        await self.client.aclose()

    async def dispatch_due(self) -> int:
        now = utcnow()
        query = due_deliveries(now)
        due = self.deliveries.find(query.filter).sort(query.sort).limit(50)
        claimed = []
        async for doc in due:
            lease = now + timedelta(seconds=self.settings.webhook_timeout + 5)
            result = await self.deliveries.update_one(
                {"_id": doc["_id"], "state": "pending", "next_attempt_at": doc["next_attempt_at"]},
                {"$set": {"next_attempt_at": lease}},
            )
            if result.modified_count == 1:
                claimed.append(doc)
        await asyncio.gather(*(self._attempt(doc) for doc in claimed))
        return len(claimed)

    async def _attempt(self, doc: dict[str, Any]) -> None:
        started = time.perf_counter()
        at = utcnow()
        status_code: int | None = None
        error: str | None = None
        permanent = False
        secret = self.settings.webhook_secrets.get(doc["tenant"])
        refused = await refusal(self.policy, doc["url"])
        if secret is None:
            error, permanent = f"no webhook secret configured for tenant {doc['tenant']}", True
        elif refused is not None:
            error, permanent = f"refused: {refused}", True
        else:
            body = doc["body"].encode()
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": doc["webhook_id"],
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secret, doc["webhook_id"], timestamp, body),
            }
            try:
                response = await self.client.post(doc["url"], content=body, headers=headers)
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
        attempt = {
            "at": at,
            "status_code": status_code,
            "error": error,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        await self._record(doc, attempt, failed=error is not None, permanent=permanent)

    async def _record(
        self, doc: dict[str, Any], attempt: dict[str, Any], *, failed: bool, permanent: bool
    ) -> None:
        number = len(doc["attempts"]) + 1
        update: dict[str, Any] = {"$push": {"attempts": attempt}}
        if not failed:
            update["$set"] = {"state": "delivered", "next_attempt_at": None}
        elif permanent or number >= self.settings.webhook_max_attempts:
            update["$set"] = {"state": "failed", "next_attempt_at": None}
        else:
            delay = min(
                self.settings.webhook_backoff_base * 2 ** (number - 1),
                self.settings.webhook_backoff_max,
            )
            update["$set"] = {"next_attempt_at": utcnow() + timedelta(seconds=delay)}
        await self.deliveries.update_one({"_id": doc["_id"]}, update)
        log.info(
            "webhook.attempt",
            job_id=doc["job_id"],
            webhook_id=doc["webhook_id"],
            attempt=number,
            status_code=attempt["status_code"],
            error=attempt["error"],
        )
