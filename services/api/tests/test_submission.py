"""The submit path's failure handling: the job is recorded only once the broker confirmed its
command, and the answer follows the broker (fakes: no database, no broker)."""

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


class Publisher:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[str] = []

    async def publish(self, command: Any) -> None:
        await asyncio.sleep(0.01)  # the confirm takes a moment
        if self.fail:
            raise PublishError("not confirmed")
        self.published.append(command.job_id)


class Jobs:
    def __init__(self, publisher: Publisher, error: Exception | None = None) -> None:
        self.publisher = publisher
        self.error = error
        self.recorded: list[str] = []

    async def record_pending(self, command: Any) -> None:
        # Only a command the broker confirmed is recorded.
        assert command.job_id in self.publisher.published
        if self.error is not None:
            raise self.error
        self.recorded.append(command.job_id)


def submitter(jobs: Jobs, publisher: Publisher) -> Submitter:
    return Submitter(
        cast("JobStore", jobs),
        cast("ReadStore", None),
        cast("IdempotencyStore", None),
        cast("CommandPublisher", publisher),
        max_running=0,
        retry_after=2,
    )


async def test_a_refused_publish_records_nothing() -> None:
    publisher = Publisher(fail=True)
    jobs = Jobs(publisher)
    with pytest.raises(ServiceUnavailable):
        await submitter(jobs, publisher).submit(PRINCIPAL, REQUEST)
    assert jobs.recorded == []


async def test_a_confirmed_command_is_recorded_before_the_answer() -> None:
    publisher = Publisher()
    jobs = Jobs(publisher)
    submitted = await submitter(jobs, publisher).submit(PRINCIPAL, REQUEST)
    assert publisher.published == jobs.recorded == [submitted.job_id]


@pytest.mark.parametrize(
    "error",
    [DuplicateKeyError("projected first"), AutoReconnect("database down"), ValueError("bug")],
)
async def test_a_confirmed_command_is_accepted_whatever_became_of_its_record(
    error: Exception,
) -> None:
    publisher = Publisher()
    jobs = Jobs(publisher, error)
    submitted = await submitter(jobs, publisher).submit(PRINCIPAL, REQUEST)
    assert publisher.published == [submitted.job_id]
