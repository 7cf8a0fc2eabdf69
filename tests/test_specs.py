"""The committed interface documents match what the code generates: regenerate them with
``uv run python -m crawl_api.specs docs`` whenever a route or a message changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawl_api.specs import asyncapi_document, openapi_document, render
from crawl_contracts import CHANGES_EXCHANGE, MESSAGE_TYPES, routing
from crawl_contracts.usage import USAGE_EXCHANGE

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize(
    ("name", "generate"), [("openapi.json", openapi_document), ("asyncapi.json", asyncapi_document)]
)
def test_committed_specs_match_the_code(name: str, generate: object) -> None:
    assert callable(generate)
    committed = (DOCS / name).read_text()
    assert committed == render(generate()), (
        f"docs/{name} is stale: run `uv run python -m crawl_api.specs docs` and commit it"
    )


def test_openapi_documents_every_route_the_api_serves() -> None:
    paths = json.loads((DOCS / "openapi.json").read_text())["paths"]
    for path in (
        "/api/v1/crawls",
        "/api/v1/crawls/{job_id}",
        "/api/v1/crawls/{job_id}/pages",
        "/api/v1/crawls/{job_id}/pages.jsonl",
        "/api/v1/crawls/{job_id}/logs",
        "/api/v1/crawls/{job_id}/events",
        "/api/v1/crawls/{job_id}/webhooks",
        "/api/assistants/{assistant_id}/webcrawl/start",
        "/api/assistants/{assistant_id}/webcrawl/history/{run_id}/cancel",
    ):
        assert path in paths, path


def test_asyncapi_names_every_message_with_its_routing_key() -> None:
    document = json.loads((DOCS / "asyncapi.json").read_text())
    channels = dict(document["channels"])
    # The change notices and the API's usage shares, each on a fanout exchange of its own.
    for name, exchange in (("JobChanged", CHANGES_EXCHANGE), ("ApiUsage", USAGE_EXCHANGE)):
        hints = channels.pop(name)
        assert hints["address"] == exchange
        assert hints["bindings"]["amqp"]["exchange"]["type"] == "fanout"
    # Render requests and their replies: request/reply beside the crawl messages.
    assert channels.pop("RenderRequested")["address"] == routing.RENDER_ROUTING_KEY
    assert channels.pop("PageRendered")["address"] is None  # the request's reply_to
    assert document["operations"]["sendRenderRequested"]["reply"]
    # Extraction requests between crawlers, likewise.
    assert channels.pop("ExtractRequested")["address"] == routing.EXTRACT_ROUTING_KEY
    assert channels.pop("PageExtracted")["address"] is None
    assert document["operations"]["sendExtractRequested"]["reply"]
    assert set(channels) == set(MESSAGE_TYPES)
    for name, channel in channels.items():
        assert channel["address"] == routing.routing_key(name)
    assert "webhook" in document["components"]["schemas"]["CrawlRequest"]["properties"]
