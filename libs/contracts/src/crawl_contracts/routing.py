"""Exchange, routing keys and queue names. Services never spell these as string literals.

One durable topic exchange carries everything. Commands are routed as ``crawl.command.<name>``,
events as ``crawl.event.<name>``, so a consumer binds by pattern.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "ALL_PATTERN",
    "CLASSIC_WORK_QUEUES",
    "COMMAND_PATTERN",
    "CRAWLER_EXTRA_BINDINGS",
    "CRAWLER_REQUESTS_QUEUE",
    "DEAD_LETTERED_QUEUES",
    "DEAD_LETTER_EXCHANGE",
    "DEAD_LETTER_QUEUE_HEADER",
    "DEAD_LETTER_REASON_HEADER",
    "DELIVERY_LIMIT",
    "EVENT_PATTERN",
    "EXCHANGE",
    "EXTRACT_REPLY_QUEUE_PREFIX",
    "EXTRACT_REQUESTS_QUEUE",
    "EXTRACT_ROUTING_KEY",
    "JOB_ID_HEADER",
    "RENDERER_REQUESTS_QUEUE",
    "RENDER_REPLY_QUEUE_PREFIX",
    "RENDER_ROUTING_KEY",
    "STATUS_DEAD_LETTERS_QUEUE",
    "STATUS_PARTITIONS",
    "STATUS_PARTITION_EXCHANGE",
    "STATUS_PARTITION_QUEUES",
    "STATUS_QUEUE",
    "WORK_QUEUE_BINDINGS",
    "dead_letter_queue",
    "routing_key",
    "status_partition_queue",
    "work_queue_arguments",
    "work_queue_type",
]

EXCHANGE: Final = "crawl"
DEAD_LETTER_EXCHANGE: Final = "crawl.dlx"

_ROUTING: Final[dict[str, str]] = {
    "CrawlRequested": "crawl.command.requested",
    "CrawlCancelRequested": "crawl.command.cancel",
    "CrawlResumeRequested": "crawl.command.resume",
    "CrawlStarted": "crawl.event.started",
    "PageRecorded": "crawl.event.page",
    "PagesRecorded": "crawl.event.pages",
    "UrlsSkipped": "crawl.event.skipped",
    "CrawlProgressed": "crawl.event.progressed",
    "CrawlLogged": "crawl.event.logged",
    "CrawlHeartbeat": "crawl.event.heartbeat",
    "CrawlCompleted": "crawl.event.completed",
    "CrawlFailed": "crawl.event.failed",
    "CrawlCancelled": "crawl.event.cancelled",
    "CrawlReleased": "crawl.event.released",
    "CrawlStalled": "crawl.event.stalled",
}

COMMAND_PATTERN: Final = "crawl.command.*"
EVENT_PATTERN: Final = "crawl.event.*"
ALL_PATTERN: Final = "crawl.#"

# Work queues (durable, with a dead-letter exchange; quorum queues with a delivery limit, but
# for ``CLASSIC_WORK_QUEUES``).
CRAWLER_REQUESTS_QUEUE: Final = "crawler.requests"
STATUS_QUEUE: Final = "status.messages"
# Render requests (crawl_contracts.render): a crawler asks, one renderer answers to the
# request's reply_to. Outside ``crawl.#`` on purpose: the status service does not see them.
RENDERER_REQUESTS_QUEUE: Final = "renderer.requests"
RENDER_ROUTING_KEY: Final = "render.requested"
# Each crawler instance's own exclusive queue for render replies: ``<prefix>.<worker id>``.
RENDER_REPLY_QUEUE_PREFIX: Final = "crawler.render-replies"
# Extraction requests (crawl_contracts.extraction): the crawler that owns a job asks, any
# crawler (every one consumes the queue) answers to the request's reply_to. Outside
# ``crawl.#`` like the render requests: the status service does not see them.
EXTRACT_REQUESTS_QUEUE: Final = "crawler.extract"
EXTRACT_ROUTING_KEY: Final = "extract.requested"
# Each crawler instance's own exclusive queue for extraction replies: ``<prefix>.<worker id>``.
EXTRACT_REPLY_QUEUE_PREFIX: Final = "crawler.extract-replies"
# The status service's work is partitioned by job: everything under ``crawl.#`` goes from the
# crawl exchange to this consistent-hash exchange (RabbitMQ's rabbitmq_consistent_hash_exchange
# plugin), which hashes the ``JOB_ID_HEADER`` header onto the queues ``status.messages.<k>``
# (``status_partition_queue``), ``STATUS_PARTITIONS`` of them: a fixed number, so that every
# service declares the same ring (more partitions than status replicas are ever run; changing
# it would move jobs between partitions). A message without the header (a command another
# service published) is put under its job's header by whichever replica receives it.
STATUS_PARTITION_EXCHANGE: Final = "crawl.status"
STATUS_PARTITIONS: Final = 8
JOB_ID_HEADER: Final = "job_id"
# Which routing pattern each work queue is bound with.
WORK_QUEUE_BINDINGS: Final[dict[str, str]] = {
    CRAWLER_REQUESTS_QUEUE: "crawl.command.requested",
    RENDERER_REQUESTS_QUEUE: RENDER_ROUTING_KEY,
    EXTRACT_REQUESTS_QUEUE: EXTRACT_ROUTING_KEY,
}
# Every queue name whose rejected messages go to ``<name>.dead`` (the status partitions all
# use ``status.messages.dead``).
DEAD_LETTERED_QUEUES: Final[tuple[str, ...]] = (
    CRAWLER_REQUESTS_QUEUE,
    STATUS_QUEUE,
    RENDERER_REQUESTS_QUEUE,
    EXTRACT_REQUESTS_QUEUE,
)
DELIVERY_LIMIT: Final = 5
# Work queues of transient requests, classic queues rather than quorum ones: a request is
# worth nothing once its asker stopped waiting (and a broker restart drops the asker's
# exclusive reply queue anyway), so it is published transient and the queue spends no Raft log
# or fsync on it. A classic queue has no delivery limit: a request's ``deadline`` bounds how
# long it can come back (its servers drop it past then).
CLASSIC_WORK_QUEUES: Final[tuple[str, ...]] = (EXTRACT_REQUESTS_QUEUE,)


def routing_key(message_type: str) -> str:
    """The routing key of a message type, e.g. ``CrawlRequested`` -> ``crawl.command.requested``."""
    try:
        return _ROUTING[message_type]
    except KeyError:
        raise ValueError(f"no routing key for message type {message_type!r}") from None


def work_queue_type(queue: str) -> Literal["classic", "quorum"]:
    """``classic`` for ``CLASSIC_WORK_QUEUES``, ``quorum`` for every other work queue."""
    return "classic" if queue in CLASSIC_WORK_QUEUES else "quorum"


def work_queue_arguments(queue: str) -> dict[str, str | int]:
    """Declaration arguments of a work queue. Every service that declares ``queue`` (its
    consumer, and publishers that must not publish into the void) uses exactly these, or
    RabbitMQ refuses the second declaration. A quorum queue dead-letters a message after
    ``DELIVERY_LIMIT`` deliveries; a classic one has no such limit (see
    ``CLASSIC_WORK_QUEUES``), but both dead-letter what a consumer rejects."""
    dead_letters: dict[str, str | int] = {
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": dead_letter_queue(queue),
    }
    if work_queue_type(queue) == "classic":
        return {"x-queue-type": "classic", **dead_letters}
    return {"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT, **dead_letters}


def status_partition_queue(partition: int) -> str:
    """The status service's work queue of one partition (its dead letters go to
    ``status.messages.dead`` with every other partition's)."""
    return f"{STATUS_QUEUE}.{partition}"


STATUS_PARTITION_QUEUES: Final[tuple[str, ...]] = tuple(
    status_partition_queue(k) for k in range(STATUS_PARTITIONS)
)


def dead_letter_queue(queue: str) -> str:
    """Where messages rejected from ``queue`` end up (also its dead-letter routing key)."""
    return f"{queue}.dead"


# Routing keys ``crawler.requests`` is bound with besides its main pattern: resumes of stalled
# jobs are claimed like new ones.
CRAWLER_EXTRA_BINDINGS: Final[tuple[str, ...]] = ("crawl.command.resume",)

# A consumer that refuses a message republishes it to the dead-letter exchange with these
# headers (RabbitMQ's own ``x-death`` only says "rejected" or "delivery_limit").
DEAD_LETTER_REASON_HEADER: Final = "x-crawl-dead-letter-reason"
DEAD_LETTER_QUEUE_HEADER: Final = "x-crawl-dead-letter-queue"
# The status service's copy of every dead letter (bound to the dead-letter exchange with each
# work queue's dead-letter routing key), so it can record them against their job while the
# dead-letter queues themselves keep every message for inspection and replay.
STATUS_DEAD_LETTERS_QUEUE: Final = "status.dead-letters"
