"""Pieces of a crawl's durable state: bounded in size whatever the delta."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from bson import encode

from crawl_schema.state import PIECE_BYTES, StateDelta, state_pieces

AT = datetime(2026, 12, 6, tzinfo=UTC)


def big_delta(urls: int, url_length: int) -> StateDelta:
    rng = random.Random(7)
    return StateDelta(
        urls=[f"http://example.com/{i}/" + "x" * url_length for i in range(urls)],
        depths=[rng.randrange(50) for _ in range(urls)],
        seen=[rng.randrange(-(2**63), 2**63) for _ in range(urls * 3)],
        done=[rng.randrange(-(2**63), 2**63) for _ in range(urls)],
        hashes=[f"{rng.getrandbits(128):032x}" for _ in range(urls // 2)],
        skips=[
            {
                "url": f"http://other.example/{i}/" + "y" * url_length,
                "depth": 3,
                "reason": "out_of_scope",
            }
            for i in range(300)
        ],
        counters={
            "discovered": 10,
            "queued": 1,
            "in_flight": 0,
            "fetched": 9,
            "failed": 0,
            "skipped": 0,
        },
    )


def test_every_piece_stays_within_the_bound_and_nothing_is_lost() -> None:
    for urls, length in ((10, 10), (5_000, 40), (40_000, 200), (2_000, 4_000)):
        delta = big_delta(urls, length)
        pieces = state_pieces("job", 3, 17, delta, AT)
        sizes = [len(encode(p)) for p in pieces]
        assert max(sizes) <= PIECE_BYTES, (urls, length, max(sizes))
        assert [p["number"] for p in pieces] == list(range(17, 17 + len(pieces)))
        assert [u for p in pieces for u in p["urls"]] == delta.urls
        assert [d for p in pieces for d in p["depths"]] == delta.depths
        assert [v for p in pieces for v in p["seen"]] == delta.seen
        assert [v for p in pieces for v in p["done"]] == delta.done
        assert [h for p in pieces for h in p["hashes"]] == delta.hashes
        assert [s for p in pieces for s in p["skips"]] == delta.skips
        assert [p.get("counters") for p in pieces] == [None] * (len(pieces) - 1) + [delta.counters]


def test_an_empty_delta_is_one_piece_with_the_counters() -> None:
    pieces = state_pieces("job", 1, 0, StateDelta(counters={"fetched": 3}), AT)
    assert len(pieces) == 1
    assert pieces[0]["_id"] == "job:000001:00000000"
    assert pieces[0]["counters"] == {"fetched": 3}
