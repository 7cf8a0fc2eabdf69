# renderer service image (headless Chromium driven by Playwright). Build from the repository root:
#   docker build -f deploy/docker/renderer.Dockerfile .
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.5 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
COPY pyproject.toml uv.lock ./
COPY libs ./libs
COPY services ./services
RUN uv sync --frozen --no-dev --package crawl-renderer

FROM python:3.11-slim
# Debian's chromium, the browser the renderer drives (CRAWL_RENDERER_CHROMIUM_PATH).
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 HOME=/tmp
USER nobody
CMD ["python", "-m", "crawl_renderer"]
