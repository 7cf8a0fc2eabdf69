"""``python -m crawl_status``: run the status service until SIGINT/SIGTERM."""

from __future__ import annotations

from crawl_runtime import run, tune_gc
from crawl_runtime.logs import configure_logging
from crawl_status.app import create_app
from crawl_status.settings import StatusSettings


def main() -> None:
    settings = StatusSettings()
    configure_logging("status", settings.log_level, settings.log_json)
    app, _ = create_app(settings)
    tune_gc()
    run(app.run())


if __name__ == "__main__":
    main()
