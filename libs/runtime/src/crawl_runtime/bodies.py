"""Message bodies the handlers read themselves.

Every handler on the busy paths (the status partitions, the crawl commands, extraction and
render requests and their replies) takes the delivered message from the context and validates
``message.body`` against its own model (pydantic, from the bytes). FastStream would first
decode each body as JSON for a parameter nobody declares: ``undecoded``, given as such a
subscriber's ``decoder``, skips that second parse of every message (the largest carry a page's
body or a batch of page records).
"""

from __future__ import annotations

from typing import Any

__all__ = ["undecoded"]


async def undecoded(message: Any) -> None:
    """A subscriber's decoder for a handler without parameters: nothing to decode."""
    return
