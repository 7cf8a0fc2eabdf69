"""A job as the caller sees it: its document, read once for many pollers, and its JSON view,
rendered once per version.

``JobViews`` is one object the application holds (built by ``create_app``'s lifespan) and
hands to every route that reads a job: the status read, its long poll, the results and the
event stream. Pollers ask for the same small document many times at once, so identical
concurrent reads share one query (``SingleFlight``), and the encoded view and its ``ETag`` are
kept per document version.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import msgspec
from pydantic import BaseModel

from crawl_api.auth import Principal
from crawl_api.errors import NotFound
from crawl_api.singleflight import SingleFlight
from crawl_api.store import JobStore, iso
from crawl_contracts import Counters, JobStatus

__all__ = ["CrawlView", "JobViews", "job_view", "matches"]

_RENDERED_MAX = 10_000  # views kept (about 1 KB each)


class CrawlView(BaseModel):
    id: str
    status: JobStatus
    url: str | None
    request: dict[str, Any] | None
    counters: Counters  # as the crawler counts them (crawl_contracts)
    created_at: str | None
    started_at: str | None
    last_activity_at: str | None
    finished_at: str | None
    stop_reason: str | None
    error: dict[str, Any] | None
    attempt: int


def job_view(doc: dict[str, Any]) -> CrawlView:
    request = doc.get("request") or None
    return CrawlView(
        id=doc["_id"],
        status=JobStatus(doc["status"]),
        url=request.get("url") if request else None,
        request=request,
        counters=Counters.model_validate(doc.get("counters") or {}),
        created_at=iso(doc.get("created_at")),
        started_at=iso(doc.get("started_at")),
        last_activity_at=iso(doc.get("last_activity_at")),
        finished_at=iso(doc.get("finished_at")),
        stop_reason=doc.get("stop_reason"),
        error=doc.get("error"),
        attempt=int(doc.get("attempt", 1)),
    )


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (weak comparison, or ``*``)."""
    if not if_none_match:
        return False
    tags = {t.strip() for t in if_none_match.split(",")}
    return "*" in tags or etag in tags or etag.removeprefix("W/") in tags


class JobViews:
    """Reads the caller's jobs through ``store`` and renders their views."""

    def __init__(self, store: JobStore, *, rendered_max: int = _RENDERED_MAX) -> None:
        self.store = store
        self._reads: SingleFlight[dict[str, Any] | None] = SingleFlight()
        self._rendered: OrderedDict[tuple[str, int], tuple[bytes, str]] = OrderedDict()
        self._rendered_max = rendered_max

    async def get(
        self,
        job_id: str,
        principal: Principal,
        *,
        shared: bool = True,
        cached: bool = True,
    ) -> dict[str, Any]:
        """The caller's job document (``NotFound`` if there is none): as recently read or
        received with a change notice (never older than the last notice for the job), else
        read, identical concurrent reads sharing one query unless ``shared`` is false (a read
        that must start now, e.g. after a change notice: one already in flight may predate the
        change). ``cached`` false reads the database in any case."""
        store = self.store
        doc = store.recent.get(job_id) if cached else None
        if doc is not None:
            if doc.get("tenant") != principal.tenant:
                doc = None
        elif shared and cached:
            doc = await self._reads.run(
                (job_id, principal.tenant), lambda: store.get(job_id, principal.tenant)
            )
        else:
            doc = await store.get(job_id, principal.tenant)
        if doc is None:
            raise NotFound(f"no crawl {job_id}")
        return doc

    async def current(
        self, job_id: str, principal: Principal, if_none_match: str | None
    ) -> dict[str, Any]:
        """The job, for a request that may report a change: when the remembered document
        differs from what the caller holds, the database says what the change is (another API
        process may have shown the caller a version this one has not been sent yet)."""
        doc = await self.get(job_id, principal)
        if if_none_match and not matches(if_none_match, self.etag(doc)):
            doc = await self.get(job_id, principal, shared=False, cached=False)
        return doc

    def body(self, doc: dict[str, Any]) -> bytes:
        """The JSON body of ``job_view(doc)``."""
        return self._render(doc)[0]

    def etag(self, doc: dict[str, Any]) -> str:
        """A validator of the representation, not of the stored document: a write that changes
        only the projection's bookkeeping (e.g. that the command was seen) is no change to a
        poller, and neither answers ``200`` nor wakes a long poll."""
        return self._render(doc)[1]

    def _render(self, doc: dict[str, Any]) -> tuple[bytes, str]:
        """Body and ETag, built once per document version: pollers ask for the same version
        many times, and building and encoding the view was a tenth of a GET."""
        key = (str(doc["_id"]), int(doc.get("version", 0)))
        rendered = self._rendered.get(key)
        if rendered is None:
            body = msgspec.json.encode(job_view(doc).model_dump(mode="json"))
            rendered = (body, f'W/"{hashlib.sha256(body).hexdigest()[:20]}"')
            self._rendered[key] = rendered
            if len(self._rendered) > self._rendered_max:
                self._rendered.popitem(last=False)
        return rendered
