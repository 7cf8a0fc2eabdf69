"""Every message type has golden fixtures of every schema version, and they still parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from crawl_contracts import MESSAGE_TYPES, UnknownMessageError, parse_message, routing
from crawl_contracts.registry import CURRENT_SCHEMA_VERSION, upcast

GOLDEN = Path(__file__).parent / "golden"
FIXTURES = sorted(GOLDEN.glob("v*/*.json"))


def _restricted(value: object, like: object) -> object:
    """``value`` with only the dict keys that ``like`` has, recursively."""
    if isinstance(value, dict) and isinstance(like, dict):
        return {k: _restricted(value[k], like[k]) for k in like if k in value}
    return value


def test_every_message_type_has_a_current_fixture() -> None:
    current = {p.stem for p in (GOLDEN / f"v{CURRENT_SCHEMA_VERSION}").glob("*.json")}
    assert current == set(MESSAGE_TYPES)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_fixture_parses_to_its_type_and_round_trips(path: Path) -> None:
    body = json.loads(path.read_text())
    message = parse_message(path.read_bytes())
    assert type(message).__name__ == path.stem
    if body["schema_version"] == CURRENT_SCHEMA_VERSION:
        # Optional fields added later may appear in the dump; every pinned field stays as is.
        assert _restricted(message.model_dump(mode="json"), body) == body


def test_unknown_fields_are_ignored_by_tolerant_readers() -> None:
    body = json.loads((GOLDEN / "v1" / "CrawlStarted.json").read_text())
    body["added_in_a_later_minor_version"] = {"anything": True}
    assert parse_message(body).type == "CrawlStarted"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"type": "NoSuchThing"}', b'{"type": "CrawlStarted"}'],
)
def test_garbage_is_refused_with_a_clear_error(body: bytes) -> None:
    with pytest.raises((UnknownMessageError, ValidationError)):
        parse_message(body)


def test_newer_schema_version_is_refused() -> None:
    body = json.loads((GOLDEN / "v1" / "CrawlStarted.json").read_text())
    body["schema_version"] = CURRENT_SCHEMA_VERSION + 1
    with pytest.raises(UnknownMessageError, match="newer"):
        parse_message(body)


def test_every_message_type_has_a_routing_key() -> None:
    keys = {routing.routing_key(name) for name in MESSAGE_TYPES}
    assert len(keys) == len(MESSAGE_TYPES)
    assert all(k.startswith(("crawl.command.", "crawl.event.")) for k in keys)


def test_an_older_version_is_brought_up_by_its_registered_steps_in_order() -> None:
    def rename(body: dict[str, object]) -> dict[str, object]:  # v1 -> v2 of a made-up change
        moved = dict(body)
        moved["worker"] = moved.pop("worker_id")
        return moved

    def tag(body: dict[str, object]) -> dict[str, object]:  # v2 -> v3
        return {**body, "tagged": True}

    body = json.loads((GOLDEN / "v1" / "CrawlStarted.json").read_text())
    steps = {("CrawlStarted", 1): rename, ("CrawlStarted", 2): tag}
    upcasted = upcast(body, current=3, steps=steps)
    assert upcasted["schema_version"] == 3
    assert upcasted["worker"] == body["worker_id"]
    assert "worker_id" not in upcasted
    assert upcasted["tagged"] is True
    # A type without steps only changes version; the current version is left as it is.
    other = json.loads((GOLDEN / "v1" / "CrawlCancelled.json").read_text())
    assert upcast(other, current=3, steps=steps) == {**other, "schema_version": 3}
    assert upcast(body, steps=steps) == body
