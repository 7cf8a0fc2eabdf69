"""``GET /api/v1/crawls?id_prefix=``: the caller's crawls whose id starts with a few characters.

How a short id is resolved (``crawlctl`` shows ``63717066`` for a job id that is a UUID, as
``docker`` and ``git`` do): the list route answers the crawls with that prefix, in id order, at
most ``limit`` of them; a client asks for two or more to tell a unique prefix from an ambiguous
one. The read is one ``_id`` range (:meth:`crawl_api.reads.ReadStore.jobs_by_id_prefix`), so
its cost is the few jobs that share the prefix, whatever else is stored.
"""

from __future__ import annotations

from typing import Any

from crawl_api.errors import ApiProblem
from crawl_api.reads import PrefixTooShortError, ReadStore

__all__ = ["ID_PREFIX_PATTERN", "by_id_prefix"]

ID_PREFIX_PATTERN = r"^[0-9A-Za-z._~-]{4,64}$"
"""What ``id_prefix`` accepts: 4 to 64 characters of job ids, those whose ``_id`` ranges the
embedded server answers from its index (:data:`crawl_schema.queries.ID_PREFIX_CHARACTERS`)."""


async def by_id_prefix(
    reads: ReadStore, tenant: str, prefix: str, limit: int, *, alone: bool
) -> list[dict[str, Any]]:
    """The tenant's jobs whose id starts with ``prefix``; ``alone`` false (other filters or a
    cursor were given too) and a prefix too many stored jobs share are 400s."""
    if not alone:
        raise ApiProblem("id_prefix takes no other filter and no cursor", parameter="id_prefix")
    try:
        return await reads.jobs_by_id_prefix(tenant, prefix, limit=limit)
    except PrefixTooShortError as exc:
        raise ApiProblem(
            f"too many crawls' ids start with {prefix}: give more of the id",
            parameter="id_prefix",
        ) from exc
