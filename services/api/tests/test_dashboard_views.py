"""The dashboard's HTML and its pure helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crawl_api.dashboard.reads import bucket_rates
from crawl_api.dashboard.views import run_fragment, runs_fragment

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(status: str = "running", **extra: object) -> dict[str, object]:
    return {
        "_id": "job-1",
        "status": status,
        "request": {"url": "http://e.com/<script>"},
        "counters": {"discovered": 10, "queued": 4, "fetched": 5, "failed": 0, "skipped": 1},
        "created_at": T0,
        "started_at": T0,
        **extra,
    }


def test_rates_are_bucketed_per_second_over_the_run() -> None:
    times = [T0 + timedelta(seconds=s) for s in (0.5, 1.5, 1.7, 9.9, 30)]
    series = bucket_rates(times, T0, T0 + timedelta(seconds=10), buckets=10)
    assert series.bucket_seconds == 1.0
    assert series.rates == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]  # late samples land in the last bar
    short = bucket_rates([T0, T0 + timedelta(seconds=2.5)], T0, T0 + timedelta(seconds=3))
    assert short.bucket_seconds == 1.0
    assert short.rates == [1, 0, 1]


def test_crawled_text_is_escaped_not_rendered() -> None:
    html = runs_fragment([run()], now=T0)
    assert "<script>" not in html
    assert "http://e.com/&lt;script&gt;" in html
    page = {"_id": "job-1:abc", "url": "http://e.com/x", "outcome": "fetched", "title": "<b>x"}
    fragment = run_fragment(
        run(), rates=None, logs=[], pages=[page], next_cursor=None, query={}, now=T0
    )
    assert "&lt;b&gt;x" in fragment
    assert 'href="/dashboard/runs/job-1/pages/abc"' in fragment


def test_a_running_run_offers_cancel_and_keeps_polling_a_finished_one_does_not() -> None:
    live = run_fragment(run(), rates=None, logs=[], pages=[], next_cursor=None, query={}, now=T0)
    assert 'data-terminal="false"' in live
    assert 'data-action="cancel"' in live
    done = run_fragment(
        run("cancelled", stop_reason="cancelled", finished_at=T0 + timedelta(seconds=7)),
        rates=None,
        logs=[],
        pages=[],
        next_cursor=None,
        query={},
        now=T0,
    )
    assert 'data-terminal="true"' in done
    assert 'data-action="cancel"' not in done
    assert ">Cancelled<" in done
    assert "duration\n 7s" in done
