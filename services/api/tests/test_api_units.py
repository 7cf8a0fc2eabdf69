"""Pure pieces of the API: rate limiting, JWT and e-mail policy, long-poll preference,
event ids, cursors and the seed's status names."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import cast

import jwt
import pytest

from crawl_api.auth import Authenticator, EmailDomainPolicy, Principal
from crawl_api.crawls import parse_wait
from crawl_api.errors import BadRequest, Forbidden, Unauthorized
from crawl_api.events import EventCursor
from crawl_api.idempotency import fingerprint
from crawl_api.jobviews import JobViews
from crawl_api.ratelimit import RateLimiter
from crawl_api.reads import BadCursorError, decode_cursor, encode_cursor
from crawl_api.seed import seed_status
from crawl_api.settings import JwtSettings, PrincipalConfig
from crawl_api.singleflight import SingleFlight
from crawl_api.store import JobStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_limiter_admits_a_burst_then_one_request_per_refill() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.admit("a") for _ in range(3)] == [None, None, None]
    wait = limiter.admit("a")
    assert wait == pytest.approx(0.5)
    assert limiter.admit("b") is None, "buckets are per principal"
    clock.now += 0.5
    assert limiter.admit("a") is None
    assert limiter.admit("a") is not None
    assert RateLimiter.retry_after(0.2) == "1"


class FakeConnection:
    def __init__(self, authorization: str) -> None:
        # As a server passes them: raw bytes (names are looked up case-insensitively).
        self.scope = {"headers": [(b"host", b"api"), (b"Authorization", authorization.encode())]}


def authenticate(auth: Authenticator, token: str) -> Principal:
    return auth.authenticate(FakeConnection(f"Bearer {token}"))  # type: ignore[arg-type]


def test_static_tokens_and_hs256_jwts_map_to_principals() -> None:
    settings = JwtSettings(hs256_secret="s" * 32, issuer="iss", audience="aud")
    auth = Authenticator({"key": PrincipalConfig(user="u", tenant="t")}, settings)
    assert authenticate(auth, "key") == Principal("u", "t", None)
    good = jwt.encode(
        {
            "sub": "v",
            "tenant": "t2",
            "email": "v@x.org",
            "iss": "iss",
            "aud": "aud",
            "exp": int(time.time()) + 60,
        },
        "s" * 32,
    )
    assert authenticate(auth, good) == Principal("v", "t2", "v@x.org")
    unsigned = jwt.encode({"sub": "v", "tenant": "t2", "exp": int(time.time()) + 60}, "", "none")
    for bad in ("nope", unsigned, good[:-3] + "abc"):
        with pytest.raises(Unauthorized):
            authenticate(auth, bad)


def test_the_email_domain_policy_admits_only_listed_domains() -> None:
    policy = EmailDomainPolicy(["example.com"])
    policy.check(Principal("u", "t", "u@Example.com"))
    for email in (None, "u@example.com.evil", "u@sub.example.com", "example.com"):
        with pytest.raises(Forbidden):
            policy.check(Principal("u", "t", email))
    EmailDomainPolicy([]).check(Principal("u", "t", None))


def test_prefer_wait_is_parsed_and_capped() -> None:
    assert parse_wait(None, 30) == 0
    assert parse_wait("wait=5", 30) == 5
    assert parse_wait("respond-async, wait=100", 30) == 30
    assert parse_wait("handling=lenient", 30) == 0


def test_event_ids_round_trip_and_foreign_ids_are_refused() -> None:
    cursor = EventCursor(1_000_000_000_007, "running")
    assert EventCursor.parse(cursor.event_id) == cursor
    assert EventCursor.parse(None) == EventCursor()
    assert EventCursor.parse("12-") == EventCursor(12, "")
    for bad in ("x", "12-nonsense", "-running", "1.5-running"):
        with pytest.raises(BadRequest):
            EventCursor.parse(bad)


def test_cursors_round_trip_and_garbage_is_refused() -> None:
    assert decode_cursor(encode_cursor("2026-01-01T00:00:00+00:00", "id"), 2) == [
        "2026-01-01T00:00:00+00:00",
        "id",
    ]
    with pytest.raises(BadCursorError):
        decode_cursor("!!!", 2)
    with pytest.raises(BadCursorError):
        decode_cursor(encode_cursor("only-one"), 2)


def test_fingerprints_ignore_key_order() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["pending", "pending"], "Pending"),
        (["pending", "running"], "Processing"),
        (["completed", "cancelling"], "Processing"),
        (["completed", "completed"], "Completed"),
        (["completed", "failed", "cancelled"], "Error"),
        (["completed", "cancelled"], "Cancelled"),
    ],
)
def test_run_status_maps_to_the_original_names(statuses: list[str], expected: str) -> None:
    assert seed_status(statuses) == expected


async def test_concurrent_identical_reads_share_one_query_and_later_reads_query_again() -> None:
    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    flight: SingleFlight[int] = SingleFlight()
    assert await asyncio.gather(*(flight.run("k", read) for _ in range(10))) == [1] * 10
    assert await flight.run("k", read) == 2

    async def fail() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await flight.run("k", fail)


def test_the_etag_follows_the_representation_not_the_document_version() -> None:
    now = datetime.now(UTC)
    recorded = {
        "_id": "job-etag",
        "tenant": "t",
        "status": "pending",
        "request": {"url": "http://127.0.0.1:9/"},
        "counters": {},
        "created_at": now,
        "last_activity_at": now,
        "version": 1,
    }
    projected = {**recorded, "counters_key": [1, 2], "version": 2}  # bookkeeping only
    started = {**projected, "status": "running", "started_at": now, "version": 3}
    etag_of = JobViews(cast("JobStore", None)).etag
    assert etag_of(projected) == etag_of(recorded)
    assert etag_of(started) != etag_of(projected)
    assert etag_of(started).startswith('W/"')
