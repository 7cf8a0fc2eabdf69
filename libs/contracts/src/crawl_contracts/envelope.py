"""The envelope every command and event carries.

Consumers are tolerant readers: unknown fields are ignored (``extra="ignore"``), so adding an
optional field never breaks an older consumer. Anything else is a new ``schema_version`` and an
upcaster in :mod:`crawl_contracts.registry`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ORDER_RADIX", "STATUS_SEQ", "Envelope", "OrderingKey", "new_id", "utcnow"]

ORDER_RADIX = 10**12
"""An ordering key as one integer is ``attempt * ORDER_RADIX + seq``: sequence numbers of one
attempt stay below it."""
STATUS_SEQ = 10**11
"""The sequence number of the messages the status service decides for a job's attempt (a
stall, a resume, a failure): above any a crawler uses, so the decision outranks a late word
from a presumed-dead worker, and below ``ORDER_RADIX``."""


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC, truncated to milliseconds (what MongoDB stores)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_id() -> str:
    """A fresh random identifier (UUID4, hex string with dashes)."""
    return str(uuid.uuid4())


class OrderingKey(NamedTuple):
    """Orders one job's messages: a later attempt wins, then a higher sequence number."""

    attempt: int
    seq: int

    @property
    def number(self) -> int:
        """The key as one sortable integer (the ordering number)."""
        return self.attempt * ORDER_RADIX + self.seq

    @classmethod
    def of_number(cls, number: int) -> OrderingKey:
        attempt, seq = divmod(number, ORDER_RADIX)
        return cls(attempt, seq)


class Envelope(BaseModel):
    """Fields common to every message. ``type`` names the concrete message class."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str
    message_id: str = Field(default_factory=new_id)
    job_id: str
    tenant: str
    occurred_at: datetime = Field(default_factory=utcnow)
    schema_version: int = 1
    correlation_id: str | None = None
    # Ordering key, assigned by the producer: ``attempt`` grows when a job is resumed by another
    # worker, ``seq`` grows with every message one attempt emits.
    attempt: int = Field(default=1, ge=1)
    seq: int = Field(default=0, ge=0)

    @property
    def ordering_key(self) -> OrderingKey:
        return OrderingKey(self.attempt, self.seq)
