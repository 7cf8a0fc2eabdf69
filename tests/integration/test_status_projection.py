"""The status service over the real broker and database: what it projects, and what it
refuses (dead letters)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, cast

import aio_pika
import pytest
from faststream.rabbit import QueueType, RabbitBroker, RabbitQueue
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from crawl_contracts import CrawlReleased, PageRecorded, PagesRecorded, routing
from crawl_runtime.topology import crawl_exchange
from crawl_stack import Services
from crawl_status.app import StatusService
from crawl_status.settings import StatusSettings
from services.status.tests.events import history, released_history
from tests.reliability.support import event_probe

pytestmark = pytest.mark.integration


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_status(services: Services) -> AsyncIterator[StatusService]:
    """A status service in this process, consuming (its loops not started)."""
    settings = StatusSettings(
        rabbitmq_url=services.rabbitmq_url,
        mongodb_url=services.mongodb_url,
        mongodb_database=services.database,
    )
    service = StatusService(settings)
    await service.broker.connect()
    await service.start_dependencies()
    await service.broker.start()
    try:
        yield service
    finally:
        await service.broker.stop()
        await service.close()


@pytest.fixture
async def status_service(services: Services) -> AsyncIterator[StatusService]:
    async with running_status(services) as service:
        yield service


@pytest.fixture
async def publisher(services: Services) -> AsyncIterator[RabbitBroker]:
    broker = RabbitBroker(services.rabbitmq_url, logger=None)
    await broker.connect()
    yield broker
    await broker.stop()


async def publish(broker: RabbitBroker, message: Any) -> None:
    await broker.publish(
        message.model_dump_json().encode(),
        exchange=routing.EXCHANGE,
        routing_key=routing.routing_key(message.type),
        persist=True,
    )


async def test_shuffled_and_duplicated_events_project_to_the_in_order_document(
    status_service: StatusService,
    publisher: RabbitBroker,
    mongo: AsyncMongoClient[dict[str, Any]],
    services: Services,
) -> None:
    from crawl_status.projection import reduce_job  # noqa: PLC0415

    messages = history(job_id="shuffled-job")
    expected: dict[str, Any] | None = None
    retention = timedelta(seconds=status_service.settings.retention)
    for m in messages:
        expected = reduce_job(expected, m, retention=retention)
    noisy = messages + random.Random(7).choices(messages, k=8)
    random.Random(11).shuffle(noisy)
    for message in noisy:
        await publish(publisher, message)

    db = mongo[services.database]

    async def done() -> bool:
        doc = await db.crawls.find_one({"_id": "shuffled-job"})
        pages = await db.crawl_pages.count_documents({"job_id": "shuffled-job"})
        logs = await db.crawl_logs.count_documents({"job_id": "shuffled-job"})
        # One CrawlLogged line, and the lines of CrawlStarted and CrawlCompleted.
        return doc is not None and doc["status"] == "completed" and pages == 3 and logs == 3

    await eventually(done)
    await asyncio.sleep(0.3)  # let any duplicate still in flight land
    doc = await db.crawls.find_one({"_id": "shuffled-job"})
    assert doc is not None
    doc.pop("version")
    assert doc == expected


async def test_a_batch_of_page_records_projects_as_its_records_would_one_by_one(
    status_service: StatusService,
    publisher: RabbitBroker,
    mongo: AsyncMongoClient[dict[str, Any]],
    services: Services,
) -> None:
    db = mongo[services.database]
    fields = {"_id": 0, "url": 1, "outcome": 1, "title": 1, "markdown": 1, "depth": 1, "seq": 1}

    async def pages_of(job_id: str) -> list[dict[str, Any]]:
        found = db.crawl_pages.find({"job_id": job_id}, fields)
        return sorted([page async for page in found], key=lambda page: page["url"])

    async def project(job_id: str, *, batched: bool) -> list[dict[str, Any]]:
        messages = history(job_id=job_id)
        pages = [m for m in messages if isinstance(m, PageRecorded)]
        if batched:  # the pages in one message, sent twice (a redelivery), before the end
            batch = PagesRecorded(
                job_id=job_id, tenant=pages[0].tenant, seq=pages[0].seq, pages=pages
            )
            rest = [m for m in messages if not isinstance(m, PageRecorded)]
            messages = [*rest[:-1], batch, batch, rest[-1]]
        for message in messages:
            await publish(publisher, message)

        async def done() -> bool:
            doc = await db.crawls.find_one({"_id": job_id})
            count = await db.crawl_pages.count_documents({"job_id": job_id})
            return doc is not None and doc["status"] == "completed" and count == len(pages)

        await eventually(done)
        await asyncio.sleep(0.3)  # let the redelivered copy land
        return await pages_of(job_id)

    one_by_one = await project("records-one-by-one", batched=False)
    batched = await project("records-batched", batched=True)
    assert len(batched) == 3
    assert batched == one_by_one


async def test_a_released_job_is_resumed_at_once_once_and_stays_running(
    status_service: StatusService,
    publisher: RabbitBroker,
    mongo: AsyncMongoClient[dict[str, Any]],
    services: Services,
) -> None:
    messages = released_history(job_id=f"released-{random.randrange(10**9)}")
    release = next(m for m in messages if isinstance(m, CrawlReleased))
    job_id = release.job_id
    db = mongo[services.database]
    async with event_probe(services.rabbitmq_url) as probe:
        # Up to the release, which is delivered twice (a redelivery).
        for message in [*messages[: messages.index(release) + 1], release]:
            await publish(publisher, message)

        async def resumed() -> bool:
            doc = await db.crawls.find_one({"_id": job_id})
            return doc is not None and doc["attempt"] == 2

        await eventually(resumed)
        await asyncio.sleep(0.5)  # the copy of the release lands too
        resumes = [e for e in await probe.of(job_id) if e["type"] == "CrawlResumeRequested"]
    assert [(e["attempt"], e["reason"]) for e in resumes] == [
        (2, "handed back by worker w1 (shutdown)")
    ]
    doc = await db.crawls.find_one({"_id": job_id})
    assert doc is not None
    assert (doc["status"], doc["released_attempts"]) == ("running", [1])
    assert doc["counters"] == release.counters.model_dump()
    lines = [line["message"] async for line in db.crawl_logs.find({"job_id": job_id})]
    assert any(line.startswith("crawl handed back by worker w1") for line in lines), lines


async def test_garbage_is_dead_lettered_and_the_next_message_is_processed(
    status_service: StatusService,
    publisher: RabbitBroker,
    mongo: AsyncMongoClient[dict[str, Any]],
    services: Services,
) -> None:
    await publisher.publish(
        b"{this is not json", exchange=routing.EXCHANGE, routing_key="crawl.event.started"
    )
    good = history(job_id="after-garbage")[0]
    await publish(publisher, good)

    async def projected() -> bool:
        return await mongo[services.database].crawls.find_one({"_id": "after-garbage"}) is not None

    await eventually(projected)
    dead_queue = await publisher.declare_queue(
        __import__("faststream.rabbit", fromlist=["RabbitQueue"]).RabbitQueue(
            routing.dead_letter_queue(routing.STATUS_QUEUE), declare=False
        )
    )
    dead = None
    for _ in range(100):
        dead = await dead_queue.get(fail=False, no_ack=True)
        if dead is not None:
            break
        await asyncio.sleep(0.05)
    assert dead is not None
    assert dead.body == b"{this is not json"
    reason: Any = dead.headers[routing.DEAD_LETTER_REASON_HEADER]
    assert reason.startswith("unparseable")


async def test_each_change_notice_carries_the_document_exactly_as_written(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    import base64  # noqa: PLC0415

    from bson import CodecOptions, decode  # noqa: PLC0415

    from crawl_contracts import JobChanged  # noqa: PLC0415
    from crawl_status.store import ProjectionStore  # noqa: PLC0415

    notices: list[JobChanged] = []
    db = mongo[services.database]
    store = ProjectionStore(db, on_change=notices.append)
    for message in history(job_id="noticed-job"):
        await store.apply(message)
    assert notices
    versions = [n.version or 0 for n in notices]
    assert versions == sorted(set(versions))
    assert 0 not in versions
    last = notices[-1]
    assert last.document is not None
    as_stored: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
    sent = decode(base64.b64decode(last.document), codec_options=as_stored)
    assert sent == await db.crawls.find_one({"_id": "noticed-job"})
    assert sent["version"] == last.version
    assert sent["status"] == last.status == "completed"


async def test_a_recorded_jobs_command_is_projected_without_a_write_or_a_notice(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    from crawl_api.store import JobStore  # noqa: PLC0415
    from crawl_contracts import CrawlRequest, CrawlRequested  # noqa: PLC0415
    from crawl_status.store import ProjectionStore  # noqa: PLC0415

    db = mongo[services.database]
    command = CrawlRequested(
        job_id="recorded-job", tenant="t", request=CrawlRequest(url="http://127.0.0.1:9/")
    )
    api = JobStore(db)
    await api.record_pending(command)  # as the API records it, once the broker confirmed it
    recorded = await db.crawls.find_one({"_id": "recorded-job"})
    assert recorded is not None
    assert recorded["version"] == 1
    notices: list[Any] = []
    store = ProjectionStore(db, on_change=notices.append)
    await store.apply(command)
    assert await db.crawls.find_one({"_id": "recorded-job"}) == recorded, "nothing to write"
    assert notices == [], "nothing a reader sees changed"
    await ProjectionStore(db).apply(command)  # a duplicate, on a store that knows nothing
    stored = await db.crawls.find_one({"_id": "recorded-job"})
    assert stored is not None
    assert stored["version"] == 1
    # The status service may project the command before the API records it: the API's insert
    # then finds the document there, and the caller's 202 stands (see the submit path).
    first = CrawlRequested(
        job_id="projected-first", tenant="t", request=CrawlRequest(url="http://127.0.0.1:9/")
    )
    await store.apply(first)
    with pytest.raises(DuplicateKeyError):
        await api.record_pending(first)
    started = history(job_id="recorded-job")[1]
    assert started.type == "CrawlStarted"
    await store.apply(started)
    stored = await db.crawls.find_one({"_id": "recorded-job"})
    assert stored is not None
    assert (stored["version"], stored["status"]) == (2, "running")
    assert [(n.job_id, n.version) for n in notices] == [("projected-first", 1), ("recorded-job", 2)]


async def test_the_apis_record_is_remembered_as_a_read_returns_it(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    from crawl_api.recent import RecentJobs  # noqa: PLC0415
    from crawl_api.store import JobStore  # noqa: PLC0415
    from crawl_contracts import CrawlRequest, CrawlRequested  # noqa: PLC0415

    db = mongo[services.database]
    api = JobStore(db, RecentJobs(30))
    command = CrawlRequested(
        job_id="remembered-job", tenant="t", request=CrawlRequest(url="http://127.0.0.1:9/")
    )
    await api.record_pending(command)
    remembered = api.recent.get("remembered-job")
    stored = await db.crawls.find_one({"_id": "remembered-job"})
    assert remembered is not None
    assert stored is not None
    assert remembered == stored  # millisecond times, time zone, every field
    # A notice that arrives while the record is being written wins over the record.
    late = CrawlRequested(
        job_id="late-noticed-job", tenant="t", request=CrawlRequest(url="http://127.0.0.1:9/")
    )
    writing = asyncio.ensure_future(api.record_pending(late))
    await asyncio.sleep(0)  # the insert is in flight
    noticed = {"_id": "late-noticed-job", "version": 2, "status": "running"}
    api.recent.noticed("late-noticed-job", noticed)
    await writing
    assert api.recent.get("late-noticed-job") == noticed


async def test_query_indexes_exist_where_the_server_uses_them(
    mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    from crawl_mongo import index_name  # noqa: PLC0415
    from crawl_schema import ensure_indexes, names  # noqa: PLC0415
    from crawl_schema.indexes import QUERY_INDEXES  # noqa: PLC0415

    db = mongo[f"{services.database}_indexes"]
    try:
        # A database made before: it has an index that no query uses any more.
        keys = [("status", 1)]
        assert await db.crawls.create_index(keys) == index_name(keys) == "status_1"
        traits = await ensure_indexes(db, names.CRAWLS, names.PAGES)
        crawls = set(await db.crawls.index_information())
        pages = set(await db.crawl_pages.index_information())
        if traits.query_indexes:  # every query has its index
            wanted = {
                index_name([(key, 1) for key in index])
                for index in QUERY_INDEXES[names.CRAWLS] + QUERY_INDEXES[names.PAGES]
                if not (traits.ttl_indexes and index == ("expires_at",))
            }
            assert wanted <= crawls | pages
        else:  # a server that reads by `_id` only: other indexes would only slow writes
            assert crawls | pages <= {"_id_"}
        assert ("expires_at_ttl" in crawls) == traits.ttl_indexes
    finally:
        await mongo.drop_database(db.name)


async def test_the_single_queue_of_an_earlier_version_is_drained_into_the_partitions(
    publisher: RabbitBroker, mongo: AsyncMongoClient[dict[str, Any]], services: Services
) -> None:
    # As an earlier version left it: status.messages bound to crawl.#, holding messages.
    exchange = await publisher.declare_exchange(crawl_exchange())
    legacy = await publisher.declare_queue(
        RabbitQueue(
            routing.STATUS_QUEUE,
            queue_type=QueueType.QUORUM,
            durable=True,
            arguments=cast(Any, routing.work_queue_arguments(routing.STATUS_QUEUE)),
        )
    )
    await legacy.bind(exchange, routing_key=routing.ALL_PATTERN)
    waiting = history(job_id="left-in-the-old-queue")[0]
    await publisher.publish(
        waiting.model_dump_json().encode(), exchange="", routing_key=routing.STATUS_QUEUE
    )
    await publisher.publish(b"[no job here", exchange="", routing_key=routing.STATUS_QUEUE)

    async with running_status(services):  # drains the old queue before consuming

        async def projected() -> bool:
            crawls = mongo[services.database].crawls
            return await crawls.find_one({"_id": "left-in-the-old-queue"}) is not None

        await eventually(projected)
        connection = await aio_pika.connect(services.rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            with pytest.raises(aio_pika.exceptions.ChannelClosed):
                await channel.declare_queue(routing.STATUS_QUEUE, passive=True)  # deleted
            channel = await connection.channel()
            dead = await channel.declare_queue(
                routing.dead_letter_queue(routing.STATUS_QUEUE), passive=True
            )
            bodies = []
            while (message := await dead.get(no_ack=True, fail=False)) is not None:
                bodies.append(message.body)
            assert b"[no job here" in bodies  # rejected by the old queue's own dead-lettering
