"""structlog set-up shared by every service: JSON off a terminal, pretty on one.

structlog and the standard library go through one renderer, so a third-party library's
records read like the service's own; ``service`` is bound once for the whole process, and
handlers bind ``job_id``, ``tenant`` and ``message_id`` per message (``merge_contextvars``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

import structlog

__all__ = ["configure_logging"]


def configure_logging(
    service: str,
    level: str = "INFO",
    json: bool | None = None,
    *,
    quiet: Iterable[str] = (),
) -> None:
    """Route structlog and the standard library through one renderer.

    ``json=None`` renders JSON unless stderr is a terminal. The loggers named in ``quiet``
    log at WARNING or above only (e.g. a client library that logs every request at INFO
    while the service already logs one line per outcome)."""
    if json is None:
        json = not sys.stderr.isatty()
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in quiet:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    structlog.contextvars.bind_contextvars(service=service)
