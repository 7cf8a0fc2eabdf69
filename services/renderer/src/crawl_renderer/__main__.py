"""``python -m crawl_renderer``: run one renderer instance until SIGINT/SIGTERM."""

from __future__ import annotations

from crawl_renderer.app import create_app
from crawl_renderer.settings import RendererSettings
from crawl_runtime import run, tune_gc
from crawl_runtime.logs import configure_logging


def main() -> None:
    settings = RendererSettings()
    # httpx logs every request at INFO; the renderer logs what it refuses.
    configure_logging("renderer", settings.log_level, settings.log_json, quiet=("httpx",))
    app, _ = create_app(settings)
    tune_gc()
    run(app.run())


if __name__ == "__main__":
    main()
