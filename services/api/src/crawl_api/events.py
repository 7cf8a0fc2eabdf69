"""``GET /api/v1/crawls/{id}/events``: a crawl's live events as Server-Sent Events.

Event types: ``status`` (the job document whenever its status changes), ``progress``
(cumulative counters), ``page`` (one recorded URL, without its markdown) and ``log`` (one log
line). The stream ends after the terminal ``status`` event.

Resumption is exact. Pages, logs and progress carry the producer's ordering number
(``attempt * 10**12 + seq``; a crawler publishes one job's events in that order) and are sent
in that order. An event id is ``<ordering number>-<status>``: the ordering number of the last
page/log/progress sent and the last status sent. A reconnect with ``Last-Event-ID`` sends
exactly what comes after both, so nothing is skipped or repeated. A reconnect after the
terminal event gets ``204 No Content`` (EventSource stops retrying).

The status service may make a job's messages visible slightly out of order (it handles
deliveries concurrently), so the stream sends an item only once it has been visible for
``sse_settle_seconds``, and only after every visible item before it: a predecessor that shows
up within that window still goes out first, and the cursor never moves past it. A wider
reordering than that window could skip an item; the setting trades latency for margin. A job
that finished longer ago than that window has nothing more on its way: its stream goes out at
once, without waiting.

The database is polled (FerretDB has no change streams): one read of the small job document,
then the pages and logs past the cursor, each read on an index (``crawl_schema.queries``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from crawl_api.auth import Principal
from crawl_api.errors import BadRequest
from crawl_api.jobviews import JobViews, job_view
from crawl_api.problems import AUTHENTICATED, HEADER_STRING, no_content, problems
from crawl_api.reads import PAGE_FIELDS, ReadStore
from crawl_api.settings import ApiSettings
from crawl_api.store import JobStore, iso
from crawl_contracts import TERMINAL_STATUSES, JobStatus, OrderingKey
from crawl_contracts.envelope import utcnow

__all__ = ["EventCursor", "EventsController"]

_BATCH = 500
_PAGE_EVENT_FIELDS = tuple(f for f in PAGE_FIELDS if f != "markdown")
_INFINITY = 10**30
_TERMINAL_KEY = _INFINITY  # first sighting of the terminal status, in ``first_seen``
_Item = tuple[int, str, Any]
# What ``EventCursor.parse`` accepts: nothing, or "<ordering number>-<status or nothing>".
_EVENT_ID_PATTERN = r"^(?:|\s*[0-9]+-(?:" + "|".join(s.value for s in JobStatus) + r")?\s*)$"


@dataclass(slots=True)
class EventCursor:
    """Where a client is: the last ordering number and the last status it was sent."""

    order: int = 0
    status: str = ""

    @property
    def event_id(self) -> str:
        return f"{self.order}-{self.status}"

    @classmethod
    def parse(cls, raw: str | None) -> EventCursor:
        if not raw:
            return cls()
        order, sep, status = raw.strip().rpartition("-")
        if (
            not sep
            or not (order.isascii() and order.isdigit())  # int() refuses other digits
            or status not in {"", *(s.value for s in JobStatus)}
        ):
            raise BadRequest(
                "Last-Event-ID is not an id this stream sent", parameter="Last-Event-ID"
            )
        return cls(int(order), status)


def _key_order(key: Any) -> int | None:
    if isinstance(key, list | tuple) and len(key) == 2:
        return OrderingKey(int(key[0]), int(key[1])).number
    return None


def _since(moment: datetime | None) -> float:
    """Seconds since ``moment`` (the status service's clock), 0 if unknown."""
    return (utcnow() - moment).total_seconds() if moment is not None else 0.0


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class _Stream:
    """One client's stream: polls, emits in order, stops after the terminal status."""

    def __init__(
        self,
        *,
        store: JobStore,
        reads: ReadStore,
        settings: ApiSettings,
        job_id: str,
        principal: Principal,
        cursor: EventCursor,
    ) -> None:
        self.store = store
        self.reads = reads
        self.poll = float(settings.poll_interval)
        self.keepalive = float(settings.sse_keepalive_seconds)
        self.settle = float(settings.sse_settle_seconds)
        self.first_seen: dict[int, float] = {}
        self.job_id = job_id
        self.principal = principal
        self.cursor = cursor

    def _message(self, event: str, data: Any) -> ServerSentEventMessage:
        return ServerSentEventMessage(data=_json(data), event=event, id=self.cursor.event_id)

    def _settled(self, key: int, now: float) -> bool:
        """Whether ``key`` has been visible to this stream for the settle time."""
        first = self.first_seen.setdefault(key, now)
        return now - first >= self.settle

    async def _items(
        self, doc: dict[str, Any], now: float, *, settled: bool = False
    ) -> tuple[list[_Item], bool]:
        """Settled pages, logs and progress past the cursor, in order; and whether more are
        visible or on their way (held back, or beyond this batch)."""
        after = self.cursor.order
        pages = await self.reads.page_list(
            self.job_id, after=after, limit=_BATCH, fields=_PAGE_EVENT_FIELDS
        )
        logs = await self.reads.log_list(self.job_id, after=after or None, limit=_BATCH)
        found: list[_Item] = [
            (p["order"], "page", {f: p.get(f) for f in _PAGE_EVENT_FIELDS}) for p in pages
        ]
        found += [
            (
                entry["order"],
                "log",
                {
                    "seq": entry["order"],
                    "level": entry["level"],
                    "message": entry["message"],
                    "at": iso(entry.get("at")),
                },
            )
            for entry in logs
        ]
        progress = _key_order(doc.get("counters_key"))
        if (
            progress is not None
            and progress > after
            and progress != _key_order((doc.get("terminal") or {}).get("key"))
        ):
            found.append((progress, "progress", doc.get("counters") or {}))
        found.sort(key=lambda item: item[0])
        # Only a prefix that is certainly complete: within both batches, and settled.
        horizon = min(
            pages[-1]["order"] if len(pages) == _BATCH else _INFINITY,
            logs[-1]["order"] if len(logs) == _BATCH else _INFINITY,
        )
        more = horizon != _INFINITY
        items: list[_Item] = []
        for item in found:
            ready = self._settled(item[0], now) or settled  # note every first sighting
            if more or item[0] > horizon or not ready:
                more = True
                continue
            items.append(item)
        return items, more

    async def run(self) -> AsyncIterator[ServerSentEventMessage]:
        quiet_since = time.monotonic()
        while True:
            doc = await self.store.get(self.job_id, self.principal.tenant)
            if doc is None:
                return
            now = time.monotonic()
            status = str(doc["status"])
            finished = status in {s.value for s in TERMINAL_STATUSES}
            sent = False
            if not finished and status != self.cursor.status:
                self.cursor.status = status
                yield self._message("status", job_view(doc).model_dump(mode="json"))
                sent = True
            # Finished longer ago than the settle window: nothing more is on its way.
            quiet = finished and _since(doc.get("finished_at")) >= self.settle
            items, more = await self._items(doc, now, settled=quiet)
            for order, event, data in items:
                self.cursor.order = order
                yield self._message(event, data)
                sent = True
            self.first_seen = {k: v for k, v in self.first_seen.items() if k > self.cursor.order}
            if finished and (quiet or self._settled(_TERMINAL_KEY, now)) and not more:
                terminal_order = _key_order((doc.get("terminal") or {}).get("key")) or 0
                self.cursor.order = max(self.cursor.order, terminal_order)
                self.cursor.status = status
                yield self._message("status", job_view(doc).model_dump(mode="json"))
                return
            if sent:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= self.keepalive:
                quiet_since = time.monotonic()
                yield ServerSentEventMessage(comment="keep-alive")
            await asyncio.sleep(self.poll)


class EventsController(Controller):
    path = "/api/v1/crawls/{job_id:str}/events"
    tags = ["events"]

    @get(
        "/",
        summary="Live events of a crawl (Server-Sent Events)",
        description=(
            "Events `status`, `progress`, `page`, `log`; ids resume exactly with "
            "`Last-Event-ID`; the stream ends after the terminal status (then 204)."
        ),
        media_type="text/event-stream",
        responses={
            **no_content(204, "The stream already ended: `Last-Event-ID` names its last event"),
            **problems(400, *AUTHENTICATED, 404),
        },
    )
    async def events(
        self,
        *,
        job_id: FromPath[str],
        principal: NamedDependency[Principal],
        views: NamedDependency[JobViews],
        reads: NamedDependency[ReadStore],
        settings: NamedDependency[ApiSettings],
        last_event_id: Annotated[
            str | None,
            HeaderParameter(
                name="Last-Event-ID",
                # Documented, not enforced here: EventCursor.parse answers a 400 problem.
                schema_extra={"pattern": _EVENT_ID_PATTERN, **HEADER_STRING},
                description="The id of the last event received, to resume after it",
            ),
        ] = None,
    ) -> ServerSentEvent | Response[None]:
        doc = await views.get(job_id, principal)
        cursor = EventCursor.parse(last_event_id)
        if cursor.status == doc["status"] and cursor.status in {s.value for s in TERMINAL_STATUSES}:
            return Response(None, status_code=204)
        stream = _Stream(
            store=views.store,
            reads=reads,
            settings=settings,
            job_id=job_id,
            principal=principal,
            cursor=cursor,
        )

        return ServerSentEvent(
            stream.run(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
