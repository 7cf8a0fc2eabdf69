"""The submit path's failure handling: the record and the publish run at once, and the
answer follows the broker (fakes: no database, no broker)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError

from crawl_api.auth import Principal
from crawl_api.errors import ServiceUnavailable
from crawl_api.idempotency import IdempotencyStore
from crawl_api.publisher import CommandPublisher, PublishError
from crawl_api.reads import ReadStore
from crawl_api.store import JobStore
from crawl_api.submission import Submitter
from crawl_contracts import CrawlRequest

PRINCIPAL = Principal(user="u", tenant="t")
REQUEST = CrawlRequest(url="http://127.0.0.1:9/")


class Jobs:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.recorded: list[str] = []
        self.forgotten: list[str] = []

    async def record_pending(self, command: Any) -> None:
        await asyncio.sleep(0.01)  # slower than the publish: the undo must wait for it
        if self.error is not None:
            raise self.error
        self.recorded.append(command.job_id)

    async def forget_pending(self, job_id: str) -> None:
        self.forgotten.append(job_id)


class Publisher:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[str] = []

    async def publish(self, command: Any) -> None:
        if self.fail:
            raise PublishError("not confirmed")
        self.published.append(command.job_id)


def submitter(jobs: Jobs, publisher: Publisher) -> Submitter:
    return Submitter(
        cast("JobStore", jobs),
        cast("ReadStore", None),
        cast("IdempotencyStore", None),
        cast("CommandPublisher", publisher),
        max_running=0,
        retry_after=2,
    )


async def test_a_refused_publish_undoes_the_record_after_it_landed() -> None:
    jobs, publisher = Jobs(), Publisher(fail=True)
    with pytest.raises(ServiceUnavailable):
        await submitter(jobs, publisher).submit(PRINCIPAL, REQUEST)
    assert len(jobs.recorded) == 1
    assert jobs.forgotten == jobs.recorded


@pytest.mark.parametrize(
    "error",
    [DuplicateKeyError("projected first"), AutoReconnect("database down"), ValueError("bug")],
)
async def test_a_confirmed_command_is_accepted_whatever_became_of_its_record(
    error: Exception,
) -> None:
    jobs, publisher = Jobs(error), Publisher()
    submitted = await submitter(jobs, publisher).submit(PRINCIPAL, REQUEST)
    assert publisher.published == [submitted.job_id]
    assert jobs.forgotten == []
