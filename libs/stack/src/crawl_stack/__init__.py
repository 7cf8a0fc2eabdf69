"""Run the services as processes on a private broker virtual host and database, for tests and
benchmarks.

``private_services`` makes (and afterwards removes) a RabbitMQ virtual host and a database of
their own; ``running_stack`` starts the API, the status service, crawler workers and renderers on
them as real processes and waits until each is ready; ``wait_finished`` waits for a job over the
API.
"""

from __future__ import annotations

from crawl_stack.jobs import wait_finished
from crawl_stack.processes import LOGS, TOKEN, Stack, free_port, running_stack, stack_env
from crawl_stack.services import Services, private_services

__all__ = [
    "LOGS",
    "TOKEN",
    "Services",
    "Stack",
    "free_port",
    "private_services",
    "running_stack",
    "stack_env",
    "wait_finished",
]
