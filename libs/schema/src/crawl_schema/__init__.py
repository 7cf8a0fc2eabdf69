"""The crawl database's schema: collection names, key layouts, documents, indexes, queries.

One owner for what the services store: the API, the crawler and the status service build
every ``_id``, document, index and read through this package, so the first record of a job,
its projection and every read of it agree, and every read is one an index answers
(:mod:`crawl_schema.queries`).

- :mod:`crawl_schema.names`: the collections, and which service writes each;
- :mod:`crawl_schema.keys`: ``_id`` layouts and sortable keys;
- :mod:`crawl_schema.documents`: job documents, page records, log lines;
- :mod:`crawl_schema.state`: the crawler's leases and durable crawl state;
- :mod:`crawl_schema.indexes`: the indexes, created where the server uses them;
- :mod:`crawl_schema.queries`: the reads, as filters and sorts those indexes answer.
"""

from crawl_schema import names
from crawl_schema.documents import (
    CONTENT_OUTCOMES,
    COUNTER_FIELDS,
    JOB_DEFAULTS,
    JOB_SUMMARY_FIELDS,
    OUTCOME_COUNTERS,
    PAGE_RECORD_FIELDS,
    JobDocument,
    LogLine,
    PageRecord,
    empty_counters,
    job_list_fields,
    log_line,
    new_job_document,
    page_record,
)
from crawl_schema.indexes import ensure_indexes
from crawl_schema.queries import Query

__all__ = [
    "CONTENT_OUTCOMES",
    "COUNTER_FIELDS",
    "JOB_DEFAULTS",
    "JOB_SUMMARY_FIELDS",
    "OUTCOME_COUNTERS",
    "PAGE_RECORD_FIELDS",
    "JobDocument",
    "LogLine",
    "PageRecord",
    "Query",
    "empty_counters",
    "ensure_indexes",
    "job_list_fields",
    "log_line",
    "names",
    "new_job_document",
    "page_record",
]
