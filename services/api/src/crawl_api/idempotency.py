"""``Idempotency-Key`` records: a repeated submission returns the job of the first one.

A record is ``{_id: "<tenant>:<key>", fingerprint, job_id, expires_at}``, inserted *before*
the job is recorded, so two concurrent requests with one key race on the unique ``_id`` and
exactly one creates a job. A different body under a used key is refused (the caller reused a
key by mistake); the fingerprint is a hash of the canonical JSON of the request.

A key is remembered for ``ttl`` (24 hours by default, as payment APIs do): after that the
same key starts a new job. A TTL index removes expired records where the server has TTL
indexes (MongoDB); elsewhere (FerretDB) the status service's retention sweep does, and an
expired record met before the sweep is replaced when its key is used again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crawl_api.errors import Unprocessable
from crawl_schema import names
from crawl_schema.keys import idempotency_id

__all__ = ["Claim", "IdempotencyKeyReused", "IdempotencyStore", "fingerprint"]

MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(Unprocessable):
    type_ = "idempotency-key-reused"
    title = "Idempotency-Key reused with another body"


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a key: ``fresh`` when this request owns it."""

    fresh: bool
    job_id: str
    same_body: bool


class IdempotencyStore:
    def __init__(
        self, database: AsyncDatabase[dict[str, Any]], ttl: timedelta = timedelta(hours=24)
    ) -> None:
        self.records = database[names.IDEMPOTENCY_KEYS]
        self._ttl = ttl

    async def claim(self, tenant: str, key: str, digest: str, job_id: str, now: datetime) -> Claim:
        record_id = idempotency_id(tenant, key)
        try:
            await self.records.insert_one(
                {
                    "_id": record_id,
                    "fingerprint": digest,
                    "job_id": job_id,
                    "created_at": now,
                    "expires_at": now + self._ttl,
                }
            )
        except DuplicateKeyError:
            existing = await self.records.find_one({"_id": record_id})
            if existing is None:  # released meanwhile by a failed first attempt: try again
                return await self.claim(tenant, key, digest, job_id, now)
            expires_at = existing.get("expires_at")
            if expires_at is not None and expires_at <= now:
                # Expired (and not yet removed): forget it, unless another request just did.
                await self.records.delete_one({"_id": record_id, "job_id": existing["job_id"]})
                return await self.claim(tenant, key, digest, job_id, now)
            return Claim(
                fresh=False,
                job_id=str(existing["job_id"]),
                same_body=existing["fingerprint"] == digest,
            )
        return Claim(fresh=True, job_id=job_id, same_body=True)

    async def release(self, tenant: str, key: str, job_id: str) -> None:
        """Forget a claim whose job could not be submitted, so a retry may succeed."""
        await self.records.delete_one({"_id": idempotency_id(tenant, key), "job_id": job_id})
