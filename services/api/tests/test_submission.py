"""The submit path's failure handling: the job is recorded only once the broker confirmed its
command, and the answer follows the broker (fakes: no database, no broker)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError

from crawl_api.auth import Principal
from crawl_api.errors import ServiceUnavailable
from crawl_api.idempotency import IdempotencyStore, fingerprint
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


class Keys:
    """An in-memory ``IdempotencyStore``: which keys are claimed."""

    def __init__(self) -> None:
        self.claimed: set[str] = set()

    async def claim(self, tenant: str, key: str, digest: str, job_id: str, now: Any) -> Any:
        self.claimed.add(key)
        return type("Claim", (), {"fresh": True, "job_id": job_id, "same_body": True})()

    async def release(self, tenant: str, key: str, job_id: str) -> None:
        self.claimed.discard(key)


class StalledJobs(Jobs):
    """Records nothing: the write hangs until the request is cancelled."""

    async def record_pending(self, command: Any) -> None:
        await asyncio.Event().wait()


class StalledPublisher(Publisher):
    """Never confirms: the publish hangs until the request is cancelled."""

    async def publish(self, command: Any) -> None:
        await asyncio.Event().wait()


def keyed_submitter(jobs: Jobs, publisher: Publisher, keys: Keys) -> Submitter:
    return Submitter(
        cast("JobStore", jobs),
        cast("ReadStore", None),
        cast("IdempotencyStore", keys),
        cast("CommandPublisher", publisher),
        max_running=0,
        retry_after=2,
    )


async def _cancel_after(delay: float, submit: Any) -> None:
    task = asyncio.create_task(submit)
    await asyncio.sleep(delay)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_request_cancelled_once_the_broker_holds_its_command_keeps_its_key() -> None:
    publisher, keys = Publisher(), Keys()
    jobs = StalledJobs(publisher)
    submit = keyed_submitter(jobs, publisher, keys).submit(PRINCIPAL, REQUEST, idempotency_key="k")
    await _cancel_after(0.05, submit)
    assert len(publisher.published) == 1  # the command makes the job: a retry must find it
    assert keys.claimed == {"k"}


async def test_a_request_cancelled_before_the_broker_confirmed_releases_its_key() -> None:
    publisher, keys = StalledPublisher(), Keys()
    submit = keyed_submitter(Jobs(publisher), publisher, keys).submit(
        PRINCIPAL, REQUEST, idempotency_key="k"
    )
    await _cancel_after(0.05, submit)
    assert keys.claimed == set()


async def test_a_refused_publish_releases_the_key() -> None:
    publisher, keys = Publisher(fail=True), Keys()
    with pytest.raises(ServiceUnavailable):
        await keyed_submitter(Jobs(publisher), publisher, keys).submit(
            PRINCIPAL, REQUEST, idempotency_key="k"
        )
    assert keys.claimed == set()


class DigestKeys(Keys):
    """Remembers the body digest each key was claimed with."""

    def __init__(self) -> None:
        super().__init__()
        self.digests: list[str] = []

    async def claim(self, tenant: str, key: str, digest: str, job_id: str, now: Any) -> Any:
        self.digests.append(digest)
        return await super().claim(tenant, key, digest, job_id, now)


async def test_a_body_without_since_keeps_the_digest_it_had_before_since_existed() -> None:
    publisher, keys = Publisher(), DigestKeys()
    await keyed_submitter(Jobs(publisher), publisher, keys).submit(
        PRINCIPAL, REQUEST, idempotency_key="k"
    )
    before_since = REQUEST.model_dump(mode="json")
    before_since.pop("since")
    assert keys.digests == [fingerprint(before_since)]
