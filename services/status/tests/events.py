"""A realistic history of one job's messages, for projection tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from crawl_contracts import (
    Counters,
    CrawlCancelRequested,
    CrawlCompleted,
    CrawlHeartbeat,
    CrawlLogged,
    CrawlProgressed,
    CrawlRequest,
    CrawlRequested,
    CrawlStarted,
    Outcome,
    PageRecorded,
    StopReason,
)

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def history(job_id: str = "job-1", tenant: str = "acme", *, cancel: bool = False) -> list[Any]:
    """CrawlRequested, started, 3 pages with progress, a log line, a heartbeat, completed."""
    seq = iter(range(1, 1000))

    def at(n: int) -> dict[str, Any]:
        return {"job_id": job_id, "tenant": tenant, "occurred_at": T0 + timedelta(seconds=n)}

    messages: list[Any] = [
        CrawlRequested(**at(0), seq=0, request=CrawlRequest(url="https://example.com/")),
        CrawlStarted(**at(1), seq=next(seq), worker_id="w1"),
    ]
    urls = ["https://example.com/", "https://example.com/a", "https://example.com/b"]
    for i, url in enumerate(urls):
        messages.append(
            PageRecorded(
                **at(2 + i),
                seq=next(seq),
                url=url,
                outcome=Outcome.FETCHED,
                depth=min(i, 1),
                http_status=200,
                title=f"t{i}",
                markdown=f"m{i}",
            )
        )
        messages.append(
            CrawlProgressed(
                **at(2 + i),
                seq=next(seq),
                counters=Counters(discovered=3, queued=2 - i, fetched=i + 1),
            )
        )
    messages.append(CrawlLogged(**at(6), seq=next(seq), message="halfway"))
    messages.append(CrawlHeartbeat(**at(7), seq=next(seq), worker_id="w1"))
    if cancel:
        messages.append(CrawlCancelRequested(**at(8), seq=0, requested_by="alice"))
    messages.append(
        CrawlCompleted(
            **at(9),
            seq=next(seq),
            stop_reason=StopReason.EXHAUSTED,
            counters=Counters(discovered=3, fetched=3),
        )
    )
    return messages


def _at(job_id: str, tenant: str, n: int, attempt: int, seq: int) -> dict[str, Any]:
    """The envelope fields of a message ``n`` seconds after T0, of ``attempt``, with ``seq``."""
    return {
        "job_id": job_id,
        "tenant": tenant,
        "occurred_at": T0 + timedelta(seconds=n),
        "attempt": attempt,
        "seq": seq,
    }


def resumed_history(job_id: str = "job-2", tenant: str = "acme") -> list[Any]:
    """A job whose first worker fell silent: stalled, resumed as attempt 2, completed."""
    from crawl_contracts import CrawlResumeRequested, CrawlStalled  # noqa: PLC0415

    at = partial(_at, job_id, tenant)

    request = CrawlRequest(url="https://example.com/")
    return [
        CrawlRequested(**at(0, 1, 0), request=request),
        CrawlStarted(**at(1, 1, 1), worker_id="w1"),
        PageRecorded(**at(2, 1, 2), url="https://example.com/", outcome=Outcome.FETCHED, depth=0),
        CrawlProgressed(**at(2, 1, 3), counters=Counters(discovered=2, queued=1, fetched=1)),
        CrawlHeartbeat(**at(3, 1, 4), worker_id="w1"),
        CrawlStalled(**at(40, 1, 10**11), silent_seconds=37, worker_id="w1"),
        CrawlResumeRequested(**at(40, 2, 0), request=request),
        CrawlStarted(**at(41, 2, 1), worker_id="w2"),
        PageRecorded(**at(42, 2, 2), url="https://example.com/a", outcome=Outcome.FETCHED, depth=1),
        CrawlCompleted(
            **at(43, 2, 3),
            stop_reason=StopReason.EXHAUSTED,
            counters=Counters(discovered=2, fetched=2),
        ),
    ]


def released_history(job_id: str = "job-3", tenant: str = "acme") -> list[Any]:
    """A job whose first worker stopped and handed it back: resumed as attempt 2 at once
    (no stall), completed."""
    from crawl_contracts import CrawlReleased, CrawlResumeRequested  # noqa: PLC0415

    at = partial(_at, job_id, tenant)

    request = CrawlRequest(url="https://example.com/")
    return [
        CrawlRequested(**at(0, 1, 0), request=request),
        CrawlStarted(**at(1, 1, 1), worker_id="w1"),
        PageRecorded(**at(2, 1, 2), url="https://example.com/", outcome=Outcome.FETCHED, depth=0),
        CrawlProgressed(**at(2, 1, 3), counters=Counters(discovered=3, in_flight=1, fetched=1)),
        CrawlReleased(
            **at(3, 1, 4), worker_id="w1", counters=Counters(discovered=3, queued=2, fetched=1)
        ),
        CrawlResumeRequested(**at(3, 2, 0), request=request, reason="handed back by worker w1"),
        CrawlStarted(**at(4, 2, 1), worker_id="w2"),
        PageRecorded(**at(5, 2, 2), url="https://example.com/a", outcome=Outcome.FETCHED, depth=1),
        PageRecorded(**at(5, 2, 3), url="https://example.com/b", outcome=Outcome.FETCHED, depth=1),
        CrawlCompleted(
            **at(6, 2, 4),
            stop_reason=StopReason.EXHAUSTED,
            counters=Counters(discovered=3, fetched=3),
        ),
    ]
