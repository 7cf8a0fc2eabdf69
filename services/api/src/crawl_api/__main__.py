"""``python -m crawl_api``: serve the API with uvicorn until SIGINT/SIGTERM."""

from __future__ import annotations

import uvicorn

from crawl_api.app import create_app
from crawl_api.logs import configure_logging
from crawl_api.settings import ApiSettings


def main() -> None:
    settings = ApiSettings()
    configure_logging("api", settings.log_level, settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
