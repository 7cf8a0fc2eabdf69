"""One log format for every service: JSON lines with the service, level and UTC time."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from crawl_runtime.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    structlog.configure(**config)
    structlog.contextvars.clear_contextvars()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("noisy", "chatty"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def _lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_structlog_and_stdlib_records_render_as_one_json_line_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("crawler", "INFO", json=True)
    structlog.contextvars.bind_contextvars(job_id="j1")
    structlog.get_logger("crawl_test").info("page.recorded", outcome="fetched")
    logging.getLogger("some.library").warning("plain %s", "record")
    structlog.get_logger("crawl_test").debug("below the level")

    first, second = _lines(capsys.readouterr().err)
    assert first["event"] == "page.recorded"
    assert first["outcome"] == "fetched"
    assert first["level"] == "info"
    assert first["service"] == "crawler"
    assert first["job_id"] == "j1"
    assert str(first["timestamp"]).endswith("Z")
    assert second["event"] == "plain record"
    assert second["level"] == "warning"
    assert second["service"] == "crawler"
    assert set(first) == {"event", "outcome", "level", "service", "job_id", "timestamp"}


def test_json_is_the_default_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("status")  # captured stderr is not a terminal
    structlog.get_logger("crawl_test").info("ready")
    (line,) = _lines(capsys.readouterr().err)
    assert line["event"] == "ready"
    assert line["service"] == "status"


def test_quiet_loggers_log_warnings_only(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("crawler", "debug", json=True, quiet=("noisy",))
    logging.getLogger("noisy").info("GET http://example.com/ 200")
    logging.getLogger("noisy").warning("connection reset")
    logging.getLogger("chatty").info("still heard")
    events = [line["event"] for line in _lines(capsys.readouterr().err)]
    assert events == ["connection reset", "still heard"]


def test_a_quiet_logger_is_never_louder_than_the_root(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("crawler", "ERROR", json=True, quiet=("noisy",))
    assert logging.getLogger("noisy").level == logging.ERROR
    logging.getLogger("noisy").warning("hidden")
    assert capsys.readouterr().err == ""
