"""The one cancel path (REST DELETE, dashboard, seed): which jobs it refuses and what it
publishes (fakes: no database, no broker)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from crawl_api.auth import Principal
from crawl_api.cancel import Canceller, CrawlCancelAccepted
from crawl_api.errors import Conflict, NotFound, ServiceUnavailable
from crawl_api.publisher import CommandPublisher, PublishError
from crawl_api.store import JobStore

PRINCIPAL = Principal(user="u", tenant="t")


class Jobs:
    def __init__(self, *docs: dict[str, Any]) -> None:
        self.docs = {d["_id"]: d for d in docs}

    async def get(self, job_id: str, tenant: str) -> dict[str, Any] | None:
        doc = self.docs.get(job_id)
        return doc if doc is not None and doc["tenant"] == tenant else None


class Publisher:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[Any] = []

    async def publish(self, command: Any) -> None:
        if self.fail:
            raise PublishError("not confirmed")
        self.published.append(command)


def canceller(publisher: Publisher, *docs: dict[str, Any]) -> Canceller:
    return Canceller(cast("JobStore", Jobs(*docs)), cast("CommandPublisher", publisher))


async def test_an_unfinished_job_is_asked_to_stop_in_its_current_attempt() -> None:
    publisher = Publisher()
    running = {"_id": "j", "tenant": "t", "status": "running", "attempt": 2}
    accepted = await canceller(publisher, running).cancel(PRINCIPAL, "j", correlation_id="c")
    assert accepted == CrawlCancelAccepted(id="j", status="cancelling")
    (command,) = publisher.published
    assert (command.job_id, command.tenant, command.attempt) == ("j", "t", 2)
    assert (command.requested_by, command.correlation_id) == ("u", "c")


async def test_another_tenants_job_is_not_found_and_nothing_is_published() -> None:
    publisher = Publisher()
    theirs = {"_id": "j", "tenant": "other", "status": "running"}
    with pytest.raises(NotFound):
        await canceller(publisher, theirs).cancel(PRINCIPAL, "j")
    assert publisher.published == []


async def test_a_finished_job_is_a_conflict_naming_its_status() -> None:
    publisher = Publisher()
    done = {"_id": "j", "tenant": "t", "status": "completed"}
    with pytest.raises(Conflict) as raised:
        await canceller(publisher, done).cancel(PRINCIPAL, "j")
    assert raised.value.extra == {"job_status": "completed"}
    assert publisher.published == []


async def test_a_broker_that_does_not_confirm_is_unavailable() -> None:
    pending = {"_id": "j", "tenant": "t", "status": "pending"}
    with pytest.raises(ServiceUnavailable):
        await canceller(Publisher(fail=True), pending).cancel(PRINCIPAL, "j")
