"""Parsing any message from its JSON body, upcasting older schema versions first.

Exceptions::

    UnknownMessageError (ValueError)   the body names no known type or version
    pydantic.ValidationError           the body has a known type but bad fields
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final

from pydantic import Field, TypeAdapter

from crawl_contracts.commands import CrawlCancelRequested, CrawlRequested, CrawlResumeRequested
from crawl_contracts.events import (
    CrawlCancelled,
    CrawlCompleted,
    CrawlFailed,
    CrawlHeartbeat,
    CrawlLogged,
    CrawlProgressed,
    CrawlReleased,
    CrawlStalled,
    CrawlStarted,
    PageRecorded,
    PagesRecorded,
    UrlsSkipped,
)

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "MESSAGE_TYPES",
    "UPCASTERS",
    "Message",
    "UnknownMessageError",
    "parse_message",
    "upcast",
]

CURRENT_SCHEMA_VERSION: Final = 1

Message = Annotated[
    CrawlRequested
    | CrawlCancelRequested
    | CrawlResumeRequested
    | CrawlStarted
    | PageRecorded
    | PagesRecorded
    | UrlsSkipped
    | CrawlProgressed
    | CrawlLogged
    | CrawlHeartbeat
    | CrawlCompleted
    | CrawlFailed
    | CrawlCancelled
    | CrawlReleased
    | CrawlStalled,
    Field(discriminator="type"),
]

MESSAGE_TYPES: Final[dict[str, type[Any]]] = {
    cls.__name__: cls
    for cls in (
        CrawlRequested,
        CrawlCancelRequested,
        CrawlResumeRequested,
        CrawlStarted,
        PageRecorded,
        PagesRecorded,
        UrlsSkipped,
        CrawlProgressed,
        CrawlLogged,
        CrawlHeartbeat,
        CrawlCompleted,
        CrawlFailed,
        CrawlCancelled,
        CrawlReleased,
        CrawlStalled,
    )
}

_ADAPTER: Final[TypeAdapter[Message]] = TypeAdapter(Message)

# (type, from_version) -> function turning that version's dict into the next version's dict.
# Empty while every message is at version 1: a change that is not an added optional field
# raises CURRENT_SCHEMA_VERSION and registers here the step from the version before it
# (``upcast`` runs the steps; its tests run them against a version 2 of their own).
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: Final[dict[tuple[str, int], Upcaster]] = {}


class UnknownMessageError(ValueError):
    """The body is not a message this version of the contracts understands."""


def upcast(
    body: dict[str, Any],
    *,
    current: int = CURRENT_SCHEMA_VERSION,
    steps: Mapping[tuple[str, int], Upcaster] = UPCASTERS,
) -> dict[str, Any]:
    """``body`` brought to version ``current``, one registered step at a time (a type with no
    step for a version is unchanged by it, but for its ``schema_version``)."""
    version = body.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise UnknownMessageError(f"invalid schema_version {version!r}")
    if version > current:
        raise UnknownMessageError(f"schema_version {version} is newer than this consumer")
    while version < current:
        step = steps.get((str(body.get("type")), version))
        if step is not None:
            body = step(body)
        version += 1
        body = {**body, "schema_version": version}
    return body


def parse_message(body: dict[str, Any] | bytes | str) -> Message:
    """Parse and validate one message of any type, upcasting it to the current version."""
    if isinstance(body, bytes | str):
        import json  # noqa: PLC0415  (only the byte path needs it)

        try:
            body = json.loads(body)
        except ValueError as exc:
            raise UnknownMessageError(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise UnknownMessageError("body is not a JSON object")
    if body.get("type") not in MESSAGE_TYPES:
        raise UnknownMessageError(f"unknown message type {body.get('type')!r}")
    return _ADAPTER.validate_python(upcast(body))
