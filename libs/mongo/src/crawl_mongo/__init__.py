"""What the server behind a database does with TTL and secondary indexes, for the services'
choices that depend on it.

The services run against MongoDB 7 and against FerretDB v1 (SQLite), which speaks the same
protocol with two differences that matter here:

- it accepts TTL indexes and never deletes by them (expired jobs are swept instead);
- upstream, it answers every query from the ``_id`` index alone: a filter or sort on any
  other field reads and decodes the whole collection, whatever indexes exist. The project's
  build (``deploy/ferretdb/patches``) pushes filters and sorts down to SQLite expression
  indexes and says so in ``buildInfo`` (``queryPushdown``); an upstream build does not, and
  there a secondary index serves no read and is paid for by every write of its collection.

So an index that only speeds up queries is created where the server uses it for queries, and
dropped where it does not (:func:`create_query_index`); indexes that are constraints
(unique) are created everywhere.

Writes of concurrent callers merged into one round trip: ``crawl_mongo.groupcommit``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

__all__ = ["ServerTraits", "create_query_index", "index_name", "server_traits", "traits_of"]


@dataclass(frozen=True, slots=True)
class ServerTraits:
    ttl_indexes: bool  # documents past a TTL index's date are deleted by the server
    query_indexes: bool  # queries use indexes other than ``_id``


def traits_of(build_info: dict[str, Any]) -> ServerTraits:
    """The traits of the server that answered ``buildInfo`` with ``build_info``."""
    ferretdb = str(build_info.get("ferretdbVersion") or "")
    if not ferretdb and "ferretdb" in str(build_info.get("version", "")).lower():
        ferretdb = "unknown"
    if not ferretdb:
        return ServerTraits(ttl_indexes=True, query_indexes=True)
    # Any FerretDB: TTL indexes are not relied on. Version 1 narrows queries by `_id` only,
    # unless it is this project's build (it pushes queries down to its indexes); later
    # versions (on DocumentDB) use indexes. A build without its version file says "unknown":
    # taken for version 1, the one this project builds.
    major = re.match(r"v?(\d+)\.", ferretdb)
    pushdown = bool(build_info.get("queryPushdown"))
    return ServerTraits(
        ttl_indexes=False, query_indexes=pushdown or bool(major and int(major[1]) >= 2)
    )


async def server_traits(database: AsyncDatabase[Any]) -> ServerTraits:
    return traits_of(await database.client.admin.command("buildInfo"))


async def create_query_index(
    collection: AsyncCollection[Any],
    keys: str | list[tuple[str, int]],
    traits: ServerTraits,
    **kwargs: Any,
) -> None:
    """Create an index that only speeds up queries where the server uses such indexes; where
    it does not, drop it if a database made before has it (it would only slow writes)."""
    if traits.query_indexes:
        await collection.create_index(keys, **kwargs)
        return
    name = kwargs.get("name") or index_name(keys)
    if name in await collection.index_information():
        await collection.drop_index(name)


def index_name(keys: str | list[tuple[str, int]]) -> str:
    """The name the server gives an index on ``keys`` by default (``field_1_other_-1``)."""
    pairs = [(keys, 1)] if isinstance(keys, str) else keys
    return "_".join(f"{field}_{direction}" for field, direction in pairs)
