"""The collections of the crawl database and who writes each.

| collection           | written by        | one document per                                   |
|----------------------|-------------------|----------------------------------------------------|
| ``crawls``           | status (API: the first record of a job) | job                          |
| ``crawl_pages``      | status            | URL of a job (its outcome in the ledger)           |
| ``crawl_logs``       | status            | log line of a job                                  |
| ``webhook_deliveries``| status           | webhook delivery (with its attempts)               |
| ``crawl_dead_letters``| status           | message a queue gave up on                         |
| ``crawl_stall_marks``| status            | (job, attempt) the stall detector handled          |
| ``crawl_schema``     | status            | fact about the database's layout (its version)     |
| ``idempotency_keys`` | API               | (tenant, Idempotency-Key)                          |
| ``assistant_runs``   | API               | run of the seed routes (one job per URL)           |
| ``crawler_leases``   | crawler           | job: who holds which attempt until when            |
| ``crawler_state``    | crawler           | piece of a crawl's durable state (frontier journal)|
| ``crawl_schedules``  | API               | schedule (``crawl_schema.schedules``)              |
| ``schedule_timers``  | API (a schedule's first), status (the next ones) | tick waiting to fire |
| ``schedule_fires``   | status            | tick of a schedule that fired (the claim of it)    |
"""

from __future__ import annotations

__all__ = [
    "ASSISTANT_RUNS",
    "CRAWLER_LEASES",
    "CRAWLER_STATE",
    "CRAWLS",
    "DEAD_LETTERS",
    "IDEMPOTENCY_KEYS",
    "LOGS",
    "PAGES",
    "SCHEDULES",
    "SCHEDULE_FIRES",
    "SCHEDULE_TIMERS",
    "SCHEMA",
    "STALL_MARKS",
    "WEBHOOK_DELIVERIES",
]

CRAWLS = "crawls"
PAGES = "crawl_pages"
LOGS = "crawl_logs"
WEBHOOK_DELIVERIES = "webhook_deliveries"
DEAD_LETTERS = "crawl_dead_letters"
STALL_MARKS = "crawl_stall_marks"
SCHEMA = "crawl_schema"
IDEMPOTENCY_KEYS = "idempotency_keys"
ASSISTANT_RUNS = "assistant_runs"
CRAWLER_LEASES = "crawler_leases"
CRAWLER_STATE = "crawler_state"
SCHEDULES = "crawl_schedules"
SCHEDULE_TIMERS = "schedule_timers"
SCHEDULE_FIRES = "schedule_fires"
