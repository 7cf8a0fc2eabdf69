"""Usage shares: what each API process admitted lately, so limits hold across processes.

Not a domain message (no envelope, not on the ``crawl`` exchange, never stored): every API
process publishes, a few times a second, the requests it admitted per rate-limit key and the
jobs it submitted per tenant since its last share, on a fanout exchange of its own; every
other process takes them off its own buckets and counts. A share may be lost (a restart, a
broker outage): the limits then hold per process until shares flow again.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["USAGE_EXCHANGE", "ApiUsage"]

# Fanout, durable exchange; shares are published non-persistent. Each API process binds an
# exclusive, auto-delete queue of its own.
USAGE_EXCHANGE: Final = "crawl.api.usage"


class ApiUsage(BaseModel):
    """One API process's admissions since its previous share."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    process: str = Field(description="The sharing process (its own shares are ignored)")
    requests: dict[str, int] = Field(
        default_factory=dict, description="Requests admitted, by rate-limit key"
    )
    submissions: dict[str, int] = Field(
        default_factory=dict, description="Jobs submitted, by tenant"
    )
