"""Which server is behind a database, from its ``buildInfo``."""

from __future__ import annotations

import pytest

from crawl_mongo import ServerTraits, traits_of


@pytest.mark.parametrize(
    ("build_info", "traits"),
    [
        ({"version": "7.0.14"}, ServerTraits(ttl_indexes=True, query_indexes=True)),
        # FerretDB v1 reports a MongoDB version and its own.
        (
            {"version": "7.0.42", "ferretdbVersion": "v1.24.2"},
            ServerTraits(ttl_indexes=False, query_indexes=False),
        ),
        # A build without its version file (this project's own build of v1).
        (
            {"version": "7.0.42", "ferretdbVersion": "unknown"},
            ServerTraits(ttl_indexes=False, query_indexes=False),
        ),
        # This project's build: queries are pushed down to its indexes.
        (
            {"version": "7.0.42", "ferretdbVersion": "unknown", "queryPushdown": "sqlite-v1"},
            ServerTraits(ttl_indexes=False, query_indexes=True),
        ),
        (
            {"version": "7.0.77", "ferretdbVersion": "v2.1.0"},
            ServerTraits(ttl_indexes=False, query_indexes=True),
        ),
        ({"version": "5.0.42-ferretdb"}, ServerTraits(ttl_indexes=False, query_indexes=False)),
    ],
)
def test_the_server_is_recognised(build_info: dict[str, str], traits: ServerTraits) -> None:
    assert traits_of(build_info) == traits
