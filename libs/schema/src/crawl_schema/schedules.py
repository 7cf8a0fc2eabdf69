"""Schedules: when they fire, and the documents that make each tick fire exactly once.

A schedule's ticks are either every ``every`` seconds (the multiples of ``every`` since the
Unix epoch, so ``every: 3600`` fires on the hour) or the times a five-field cron expression
names, in the schedule's time zone (IANA name, default ``UTC``; daylight-saving gaps and
repeats as ``croniter`` resolves them).

Three collections (:mod:`crawl_schema.names`):

- ``crawl_schedules`` (the API): the definition, one document per schedule. Its
  ``generation`` grows each time the schedule is resumed; only the API writes it.
- ``schedule_timers``: one document per tick waiting to fire, ``_id`` =
  ``<due time, ms, 13 digits>:<schedule id>:<generation>``, so the due timers are one ``_id``
  range on every server. The API inserts a generation's first timer; the status service
  inserts each next one and deletes the timer it handled. A timer whose schedule is gone,
  paused or of a later generation is deleted unfired.
- ``schedule_fires`` (the status service): one document per fired tick, ``_id`` =
  ``<schedule id>:<tick, ms, 13 digits>``. Inserting it *is* the claim of the tick: whichever
  replica's insert succeeds fires it, every other one meets a duplicate key. The job ids a
  fire makes are derived from the schedule and the tick (:func:`fire_job_id`), so a command
  published again after a crash is the same job, not a second one.

A tick that passed while no status service ran fires once when one returns: its fire stands for
the ticks that passed since too (``missed``, up to ``last_tick``), and the next timer is the
tick after those. Every replica derives the next timer from the fire document, so they all
insert the same one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from crawl_schema.keys import list_key

__all__ = [
    "MIN_EVERY",
    "Timing",
    "fire_document",
    "fire_id",
    "fire_job_id",
    "fire_range",
    "fire_run_id",
    "schedule_document",
    "timer_document",
    "timer_id",
    "timing_of",
]

MIN_EVERY = 5
"""The shortest interval, in seconds (timers are looked at about once a second)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_NAMESPACE = uuid.UUID("6f1c1b0e-3a52-4d59-9a5e-5c1d3b7f2a10")  # of schedule-made ids


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS


@dataclass(frozen=True, slots=True)
class Timing:
    """When a schedule fires: ``every`` seconds, or ``cron`` in ``timezone``."""

    every: int | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give either every (seconds) or cron (an expression), not both")
        if self.every is not None and self.every < MIN_EVERY:
            raise ValueError(f"every must be at least {MIN_EVERY} seconds")
        if self.cron is not None:
            if len(self.cron.split()) != 5 or not croniter.is_valid(self.cron):
                raise ValueError(
                    "cron must be five fields: minute hour day-of-month month day-of-week"
                )
            try:
                croniter(self.cron, _EPOCH).get_next(datetime)
            except Exception as exc:  # CroniterBadDateError: e.g. "0 0 31 2 *"
                raise ValueError(f"cron {self.cron!r} never fires: {exc}") from exc
        try:
            ZoneInfo(self.timezone)
        except Exception as exc:  # ZoneInfoNotFoundError, or the OS's error for an odd path
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment`` (UTC, whole milliseconds)."""
        if self.every is not None:
            step = self.every * 1000
            return _EPOCH + (_ms(moment) // step + 1) * step * _MS
        assert self.cron is not None
        local = moment.astimezone(ZoneInfo(self.timezone))
        found: datetime = croniter(self.cron, local).get_next(datetime)
        return found.astimezone(UTC)

    def coalesce(self, tick: datetime, now: datetime, limit: int = 1000) -> tuple[int, datetime]:
        """The ticks after ``tick`` that have passed by ``now`` too (up to ``limit`` of them):
        how many, and the last one (``tick`` itself if none). A late fire stands for them all."""
        count, last = 0, tick
        while count < limit:
            following = self.next_after(last)
            if following > now:
                break
            count, last = count + 1, following
        return count, last

    def fields(self) -> dict[str, Any]:
        return {"every": self.every, "cron": self.cron, "timezone": self.timezone}


def timing_of(schedule: Mapping[str, Any]) -> Timing:
    """The timing a stored schedule document holds."""
    return Timing(schedule.get("every"), schedule.get("cron"), schedule.get("timezone", "UTC"))


def timer_id(due: datetime, schedule_id: str, generation: int) -> str:
    return f"{_ms(due):013d}:{schedule_id}:{generation:06d}"


def fire_id(schedule_id: str, tick: datetime) -> str:
    return f"{schedule_id}:{_ms(tick):013d}"


def fire_range(schedule_id: str, *, before: datetime | None = None) -> dict[str, str]:
    """The ``_id`` range of a schedule's fires (those of ticks before ``before``)."""
    upper = fire_id(schedule_id, before) if before is not None else f"{schedule_id};"
    return {"$gte": f"{schedule_id}:", "$lt": upper}


def fire_job_id(schedule_id: str, tick: datetime, index: int) -> str:
    """The job the fire of ``tick`` makes for the schedule's ``index``-th crawl request."""
    return str(uuid.uuid5(_NAMESPACE, f"job:{fire_id(schedule_id, tick)}:{index}"))


def fire_run_id(schedule_id: str, tick: datetime) -> str:
    """The assistant run (seed routes) the fire of ``tick`` makes, for an assistant's
    schedule."""
    return str(uuid.uuid5(_NAMESPACE, f"run:{fire_id(schedule_id, tick)}"))


def schedule_document(
    *,
    schedule_id: str,
    tenant: str,
    created_by: str,
    name: str | None,
    timing: Timing,
    requests: Sequence[Mapping[str, Any]],
    since_previous: bool,
    overlap: str,
    paused: bool,
    assistant_id: str | None,
    now: datetime,
) -> dict[str, Any]:
    """A new schedule (generation 1). ``requests`` are the crawl requests each fire submits,
    as JSON (one for ``/api/v1/schedules``; one per start URL for an assistant's)."""
    return {
        "_id": schedule_id,
        "tenant": tenant,
        "created_by": created_by,
        "name": name,
        **timing.fields(),
        "requests": [dict(r) for r in requests],
        "since_previous": since_previous,
        "overlap": overlap,
        "paused": paused,
        "generation": 1,
        "assistant_id": assistant_id,
        "created_at": now,
        "updated_at": now,
        "list_key": list_key(now, schedule_id),
    }


def timer_document(schedule_id: str, generation: int, tick: datetime) -> dict[str, Any]:
    return {
        "_id": timer_id(tick, schedule_id, generation),
        "schedule_id": schedule_id,
        "generation": generation,
        "tick": tick,
    }


def fire_document(
    schedule: Mapping[str, Any],
    tick: datetime,
    *,
    now: datetime,
    jobs: Sequence[Mapping[str, Any]],
    skipped: str | None,
    missed: int,
    last_tick: datetime,
    fired_by: str,
    expires_at: datetime,
) -> dict[str, Any]:
    """The claim of ``tick``: what it fires (``jobs``: url, job_id, since) or why it fires
    nothing (``skipped``), and whether its commands were published yet. A late fire stands
    for ``missed`` further ticks, up to ``last_tick``; the schedule's next timer is the tick
    after ``last_tick``, whoever inserts it."""
    schedule_id = str(schedule["_id"])
    assistant_id = schedule.get("assistant_id")
    return {
        "_id": fire_id(schedule_id, tick),
        "schedule_id": schedule_id,
        "tenant": schedule["tenant"],
        "tick": tick,
        "fired_at": now,
        "jobs": [dict(j) for j in jobs],
        "run_id": fire_run_id(schedule_id, tick) if assistant_id and jobs else None,
        "skipped": skipped,
        "missed": missed,
        "last_tick": last_tick,
        "published": not jobs,  # nothing to publish for a skipped tick
        "fired_by": fired_by,
        "expires_at": expires_at,
    }
