"""``python -m crawl_worker``: run one crawler instance until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from crawl_worker.app import create_app
from crawl_worker.logs import configure_logging
from crawl_worker.settings import WorkerSettings


def main() -> None:
    settings = WorkerSettings()
    configure_logging("crawler", settings.log_level, settings.log_json)
    app, _ = create_app(settings)
    run(app.run())


def run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop where it is installed (faster I/O for the broker and database clients)."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:  # e.g. Windows
        asyncio.run(main)
        return
    uvloop.run(main)


if __name__ == "__main__":
    main()
