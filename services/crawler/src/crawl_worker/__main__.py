"""``python -m crawl_worker``: run one crawler instance until SIGINT/SIGTERM."""

from __future__ import annotations

from crawl_runtime import run, tune_gc
from crawl_runtime.logs import configure_logging
from crawl_worker.app import create_app
from crawl_worker.settings import WorkerSettings


def main() -> None:
    settings = WorkerSettings()
    # httpx logs every request at INFO; each URL already ends in one PageRecorded event.
    configure_logging("crawler", settings.log_level, settings.log_json, quiet=("httpx",))
    app, _ = create_app(settings)
    tune_gc()
    run(app.run())


if __name__ == "__main__":
    main()
