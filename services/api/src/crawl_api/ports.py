"""What the handlers are given: the clients and stores the lifespan opens, as typed
dependencies.

``create_app`` (the one composition root) makes one ``Ports``, fills it in its lifespan and
registers :func:`dependencies`: a handler names what it uses (``store: NamedDependency[
JobStore]``) and receives it, instead of looking it up in the application's state.
"""

from __future__ import annotations

from typing import Any

from litestar.di import Provide
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crawl_api.auth import Authenticator
from crawl_api.cancel import Canceller
from crawl_api.changelist import ChangeReader
from crawl_api.changes import ChangeFeed
from crawl_api.dashboard.reads import DashboardReads
from crawl_api.jobviews import JobViews
from crawl_api.publisher import CommandPublisher
from crawl_api.reads import ReadStore
from crawl_api.settings import ApiSettings
from crawl_api.store import JobStore
from crawl_api.submission import Submitter

__all__ = ["Ports", "dependencies"]


class Ports:
    """The clients and stores of a running application, set by its lifespan (each one
    before the first request, so no handler ever meets one unset)."""

    mongo: AsyncMongoClient[dict[str, Any]]
    database: AsyncDatabase[dict[str, Any]]
    publisher: CommandPublisher
    changes: ChangeFeed
    store: JobStore
    views: JobViews
    reads: ReadStore
    runs: AsyncCollection[dict[str, Any]]  # the seed routes' run records
    submitter: Submitter
    canceller: Canceller
    dashboard_reads: DashboardReads
    change_reader: ChangeReader  # a re-crawl's changes against its earlier job


_OPENED = tuple(Ports.__annotations__)


def dependencies(
    settings: ApiSettings, authenticator: Authenticator, ports: Ports
) -> dict[str, Provide]:
    """One dependency per port, by the name handlers declare it with; ``settings`` and
    ``authenticator`` are the same for the whole life of the application."""

    def provider(name: str) -> Provide:
        return Provide(lambda: getattr(ports, name), sync_to_thread=False)

    return {
        "settings": Provide(lambda: settings, sync_to_thread=False, use_cache=True),
        "authenticator": Provide(lambda: authenticator, sync_to_thread=False, use_cache=True),
        **{name: provider(name) for name in _OPENED},
    }
