"""When schedules fire: interval ticks, cron ticks in a time zone, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crawl_schema.schedules import Timing, fire_id, fire_job_id, fire_range, timer_id

T0 = datetime(2026, 3, 28, 23, 59, 58, 500000, tzinfo=UTC)


def test_interval_ticks_are_the_multiples_of_every_since_the_epoch() -> None:
    timing = Timing(every=5)
    assert timing.next_after(T0) == datetime(2026, 3, 29, 0, 0, 0, tzinfo=UTC)
    on_tick = datetime(2026, 3, 29, 0, 0, 5, tzinfo=UTC)
    assert timing.next_after(on_tick) == on_tick + timedelta(seconds=5)  # strictly after


def test_cron_ticks_follow_the_time_zone_across_a_daylight_saving_change() -> None:
    timing = Timing(cron="0 9 * * *", timezone="Europe/Berlin")
    # 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC from 29 March 2026 (summer time).
    assert timing.next_after(T0) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert timing.next_after(datetime(2026, 3, 1, tzinfo=UTC)) == datetime(
        2026, 3, 1, 8, 0, tzinfo=UTC
    )


def test_missed_ticks_are_counted_in_the_half_open_interval() -> None:
    timing = Timing(every=5)
    tick = datetime(2026, 1, 1, tzinfo=UTC)
    assert timing.coalesce(tick, tick + timedelta(seconds=4.9)) == (0, tick)
    assert timing.coalesce(tick, tick + timedelta(seconds=17)) == (3, tick + timedelta(seconds=15))


@pytest.mark.parametrize(
    ("every", "cron", "zone", "message"),
    [
        (None, None, "UTC", "either every"),
        (5, "* * * * *", "UTC", "either every"),
        (4, None, "UTC", "at least 5"),
        (None, "61 * * * *", "UTC", "five fields"),
        (None, "* * * * * *", "UTC", "five fields"),
        (None, "*/0 * * * *", "UTC", "cron"),
        (None, "0 0 31 2 *", "UTC", "never fires"),
        (None, "* * * * *", "Mars/Olympus", "time zone"),
        (None, "* * * * *", "../../etc/passwd", "time zone"),
    ],
)
def test_bad_timings_are_refused_with_a_reason(
    every: int | None, cron: str | None, zone: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Timing(every, cron, zone)


def test_keys_order_timers_by_due_time_and_fires_by_tick() -> None:
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    assert timer_id(early, "zzz", 9) < timer_id(late, "aaa", 1)
    bounds = fire_range("s1")
    assert bounds["$gte"] < fire_id("s1", early) < fire_id("s1", late) < bounds["$lt"]
    assert fire_id("s1", late) >= fire_range("s1", before=late)["$lt"]
    assert fire_job_id("s1", early, 0) == fire_job_id("s1", early, 0)
    assert len({fire_job_id("s1", early, 0), fire_job_id("s1", early, 1)}) == 2
    assert fire_job_id("s1", early, 0) != fire_job_id("s2", early, 0)
