"""``python -m crawl_status``: run the status service until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from crawl_status.app import create_app
from crawl_status.logs import configure_logging
from crawl_status.settings import StatusSettings


def main() -> None:
    settings = StatusSettings()
    configure_logging("status", settings.log_level, settings.log_json)
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
