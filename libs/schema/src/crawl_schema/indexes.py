"""The indexes of the crawl database: each serves the queries of :mod:`crawl_schema.queries`.

Query indexes are created where the server answers queries from them (MongoDB, and the
embedded FerretDB build, which pushes filters and sorts down to SQLite expression indexes);
where a server cannot use them they would only slow its writes, and are dropped
(:func:`crawl_mongo.create_query_index`). Where the server deletes by TTL indexes, the
collections that expire get one on ``expires_at``; elsewhere the status service's sweeper
deletes expired jobs through the ``expires_at`` query index. Any other index found on these
collections (one an earlier layout needed) is dropped: it would only slow their writes.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from crawl_mongo import ServerTraits, create_query_index, index_name, server_traits
from crawl_schema import names

__all__ = ["EXPIRING", "QUERY_INDEXES", "ensure_indexes"]

QUERY_INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    names.CRAWLS: (
        ("tenant", "list_key"),  # the job list
        ("tenant", "status", "list_key"),  # ... of some statuses; a tenant's unfinished jobs
        ("tenant", "host", "list_key"),  # ... of one host
        ("status", "last_activity_at"),  # silent jobs (stall detection)
        ("expires_at",),  # the retention sweep
    ),
    names.PAGES: (
        ("job_id", "order"),  # a job's pages in the order they were recorded
        ("job_id", "outcome", "order"),  # ... of one outcome
    ),
    names.WEBHOOK_DELIVERIES: (
        ("state", "next_attempt_at"),  # deliveries due
        ("job_id", "created_at"),  # a job's deliveries
    ),
    names.DEAD_LETTERS: (("job_id",),),
    names.ASSISTANT_RUNS: (("tenant", "assistant_id", "created_at"),),
    names.IDEMPOTENCY_KEYS: (("expires_at",),),  # the retention sweep
    names.SCHEDULES: (("tenant", "list_key"),),  # a tenant's schedules
    names.SCHEDULE_FIRES: (("expires_at",),),  # the retention sweep
}
"""Per collection, the keys (ascending) of each query index."""

EXPIRING = (
    names.CRAWLS,
    names.PAGES,
    names.LOGS,
    names.DEAD_LETTERS,
    names.STALL_MARKS,
    names.WEBHOOK_DELIVERIES,
    names.IDEMPOTENCY_KEYS,
    names.CRAWLER_LEASES,
    names.SCHEDULE_FIRES,
)
"""Collections whose documents carry ``expires_at`` where the server deletes by TTL."""

_TTL_NAME = "expires_at_ttl"
_NOT_IMPLEMENTED = 238


async def ensure_indexes(
    database: AsyncDatabase[Any], *collections: str, traits: ServerTraits | None = None
) -> ServerTraits:
    """Create the indexes of ``collections`` this server uses (and drop those it cannot);
    returns the server's traits."""
    traits = traits or await server_traits(database)
    for name in collections:
        collection = database[name]
        ttl = traits.ttl_indexes and name in EXPIRING
        declared = {"_id_", _TTL_NAME}
        for keys in QUERY_INDEXES.get(name, ()):
            if ttl and keys == ("expires_at",):
                continue  # the TTL index below serves the same reads
            spec = [(key, ASCENDING) for key in keys]
            declared.add(index_name(spec))
            await create_query_index(collection, spec, traits)
        for stale in set(await collection.index_information()) - declared:
            await collection.drop_index(stale)
        if ttl:
            try:
                await collection.create_index(
                    [("expires_at", ASCENDING)], expireAfterSeconds=0, name=_TTL_NAME
                )
            except OperationFailure as exc:  # a server that says it deletes by TTL, but not
                if exc.code != _NOT_IMPLEMENTED:
                    raise
    return traits
