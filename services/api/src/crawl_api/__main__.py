"""``python -m crawl_api``: serve the API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import uvicorn
from litestar import Litestar

from crawl_api.app import create_app
from crawl_api.settings import ApiSettings
from crawl_runtime import tune_gc
from crawl_runtime.logs import configure_logging


def app_from_environment() -> Litestar:
    """Factory for worker processes: each reads the settings and builds its own app."""
    settings = ApiSettings()
    configure_logging("api", settings.log_level, settings.log_json)
    app = create_app(settings)
    tune_gc()
    return app


def main() -> None:
    settings = ApiSettings()
    configure_logging("api", settings.log_level, settings.log_json)
    if settings.workers > 1:  # several processes share the port; each owns its clients
        uvicorn.run(
            "crawl_api.__main__:app_from_environment",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        return
    app = create_app(settings)
    tune_gc()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
