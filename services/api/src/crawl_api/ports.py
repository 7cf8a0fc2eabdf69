"""What the handlers are given: the clients and stores the lifespan opens, as typed
dependencies.

``create_app`` (the one composition root) makes one ``Ports``, fills it in its lifespan and
registers :func:`dependencies`: a handler names what it uses (``store: NamedDependency[
JobStore]``) and receives it, instead of looking it up in the application's state.

The two hottest routes (a status read, a submission) take one dependency each instead,
built from the caller (:class:`StatusRead`, :class:`Submission`): Litestar resolves the
dependencies a handler names at one level of its graph in an ``anyio`` task group as soon
as there are two or more, which cost about a third of a status read (0.2 ms in process);
one dependency that itself depends on ``principal`` makes two levels of one each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.di import NamedDependency, Provide
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crawl_api.auth import Authenticator, Principal
from crawl_api.cancel import Canceller
from crawl_api.changelist import ChangeReader
from crawl_api.changes import ChangeFeed
from crawl_api.dashboard.reads import DashboardReads
from crawl_api.jobviews import JobViews
from crawl_api.publisher import CommandPublisher
from crawl_api.reads import ReadStore
from crawl_api.schedulestore import ScheduleStore
from crawl_api.settings import ApiSettings
from crawl_api.store import JobStore
from crawl_api.submission import Submitter

__all__ = ["Ports", "StatusRead", "Submission", "dependencies"]


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
    schedules: ScheduleStore


_OPENED = tuple(Ports.__annotations__)


@dataclass(frozen=True, slots=True)
class StatusRead:
    """What reading a job's status takes: the caller and the ports it reads through."""

    principal: Principal
    views: JobViews
    changes: ChangeFeed
    settings: ApiSettings


@dataclass(frozen=True, slots=True)
class Submission:
    """What submitting a crawl takes: the caller and the ports it goes through."""

    principal: Principal
    submitter: Submitter
    store: JobStore
    settings: ApiSettings


def dependencies(
    settings: ApiSettings, authenticator: Authenticator, ports: Ports
) -> dict[str, Provide]:
    """One dependency per port, by the name handlers declare it with; ``settings`` and
    ``authenticator`` are the same for the whole life of the application."""

    def provider(name: str) -> Provide:
        return Provide(lambda: getattr(ports, name), sync_to_thread=False)

    def status_read(principal: NamedDependency[Principal]) -> StatusRead:
        return StatusRead(principal, ports.views, ports.changes, settings)

    def submission(principal: NamedDependency[Principal]) -> Submission:
        return Submission(principal, ports.submitter, ports.store, settings)

    return {
        "settings": Provide(lambda: settings, sync_to_thread=False, use_cache=True),
        "authenticator": Provide(lambda: authenticator, sync_to_thread=False, use_cache=True),
        "status_read": Provide(status_read, sync_to_thread=False),
        "submission": Provide(submission, sync_to_thread=False),
        **{name: provider(name) for name in _OPENED},
    }
