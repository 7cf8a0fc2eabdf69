"""Messages shared by the crawl services: commands, events, routing names, versions.

Only pydantic here: no I/O, no broker or database clients. Services depend on this package
and never on each other.
"""

from crawl_contracts.changes import CHANGES_EXCHANGE, JobChanged
from crawl_contracts.commands import CrawlCancelRequested, CrawlRequested, CrawlResumeRequested
from crawl_contracts.envelope import ORDER_RADIX, STATUS_SEQ, Envelope, OrderingKey
from crawl_contracts.events import (
    CrawlCancelled,
    CrawlCompleted,
    CrawlFailed,
    CrawlHeartbeat,
    CrawlLogged,
    CrawlProgressed,
    CrawlReleased,
    CrawlStalled,
    CrawlStarted,
    PageRecorded,
    PagesRecorded,
    SkippedUrl,
    UrlsSkipped,
    page_records,
)
from crawl_contracts.extraction import ExtractionFailure, ExtractRequested, PageExtracted
from crawl_contracts.models import (
    TERMINAL_STATUSES,
    Counters,
    CrawlRequest,
    JobStatus,
    Outcome,
    RenderMode,
    StopReason,
    WebhookEvent,
    WebhookSpec,
)
from crawl_contracts.registry import (
    MESSAGE_TYPES,
    Message,
    UnknownMessageError,
    parse_message,
)
from crawl_contracts.render import (
    BlockedRequest,
    PageRendered,
    RenderPoliteness,
    RenderRequested,
)

__all__ = [
    "CHANGES_EXCHANGE",
    "MESSAGE_TYPES",
    "ORDER_RADIX",
    "STATUS_SEQ",
    "TERMINAL_STATUSES",
    "BlockedRequest",
    "Counters",
    "CrawlCancelRequested",
    "CrawlCancelled",
    "CrawlCompleted",
    "CrawlFailed",
    "CrawlHeartbeat",
    "CrawlLogged",
    "CrawlProgressed",
    "CrawlReleased",
    "CrawlRequest",
    "CrawlRequested",
    "CrawlResumeRequested",
    "CrawlStalled",
    "CrawlStarted",
    "Envelope",
    "ExtractRequested",
    "ExtractionFailure",
    "JobChanged",
    "JobStatus",
    "Message",
    "OrderingKey",
    "Outcome",
    "PageExtracted",
    "PageRecorded",
    "PageRendered",
    "PagesRecorded",
    "RenderMode",
    "RenderPoliteness",
    "RenderRequested",
    "SkippedUrl",
    "StopReason",
    "UnknownMessageError",
    "UrlsSkipped",
    "WebhookEvent",
    "WebhookSpec",
    "page_records",
    "parse_message",
]
