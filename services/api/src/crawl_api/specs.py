"""The published interface documents, generated from the code so they cannot drift.

- ``openapi_document()``: the HTTP API, as served at ``/schema/openapi.json``.
- ``asyncapi_document()``: the messages on the broker (AsyncAPI 3.0), built from the contract
  models and routing names in :mod:`crawl_contracts`.

``python -m crawl_api.specs`` rewrites ``docs/openapi.json`` and ``docs/asyncapi.json``; a test
fails when the committed files differ from what the code generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from crawl_api.app import create_app
from crawl_api.settings import ApiSettings
from crawl_contracts import (
    CHANGES_EXCHANGE,
    MESSAGE_TYPES,
    ExtractRequested,
    JobChanged,
    PageExtracted,
    PageRendered,
    RenderRequested,
    routing,
)
from crawl_contracts.registry import CURRENT_SCHEMA_VERSION
from crawl_contracts.usage import USAGE_EXCHANGE, ApiUsage

__all__ = ["asyncapi_document", "openapi_document", "render", "write"]

_COMMANDS = ("CrawlRequested", "CrawlCancelRequested", "CrawlResumeRequested")


def openapi_document() -> dict[str, Any]:
    app = create_app(ApiSettings(tokens={}))
    schema: dict[str, Any] = app.openapi_schema.to_schema()
    return schema


def asyncapi_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, model in MESSAGE_TYPES.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
        doc = (model.__doc__ or "").strip()
        messages[name] = {
            "name": name,
            "title": name,
            "summary": doc.splitlines()[0] if doc else name,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}"},
        }
        key = routing.routing_key(name)
        channels[name] = {
            "address": key,
            "description": f"Routing key `{key}` on the `{routing.EXCHANGE}` topic exchange.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": routing.EXCHANGE,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        }
        is_command = name in _COMMANDS
        operations[f"{'send' if is_command else 'publish'}{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": (
                "Any service may publish this command."
                if is_command
                else "Published by crawler workers."
            ),
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }
    _add_change_notices(channels, operations, schemas, messages)
    parts = (channels, operations, schemas, messages)
    # Request/reply, not events: a crawler's render requests and the renderers' replies; the
    # extraction requests of a job's owner and any crawler's replies.
    _add_request_reply(
        parts,
        (RenderRequested, PageRendered),
        routing_key=routing.RENDER_ROUTING_KEY,
        queue=routing.RENDERER_REQUESTS_QUEUE,
        consumers="the renderers",
        reply_prefix=routing.RENDER_REPLY_QUEUE_PREFIX,
        summary="Sent by a crawler for a page its request's render mode renders.",
    )
    _add_request_reply(
        parts,
        (ExtractRequested, PageExtracted),
        routing_key=routing.EXTRACT_ROUTING_KEY,
        queue=routing.EXTRACT_REQUESTS_QUEUE,
        consumers="every crawler (the asking one included)",
        reply_prefix=routing.EXTRACT_REPLY_QUEUE_PREFIX,
        summary=(
            "Sent by the crawler that owns a job for a page it would extract in its process "
            "pool, while another crawler serves the queue."
        ),
    )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Crawl platform messages",
            "version": f"{CURRENT_SCHEMA_VERSION}.0.0",
            "description": (
                "Commands and events on one durable topic exchange. Every message carries the "
                "envelope (message_id, job_id, tenant, occurred_at, schema_version, "
                "correlation_id, attempt, seq). Consumers ignore unknown fields. Work queues: "
                + ", ".join(f"`{q}` bound to `{p}`" for q, p in routing.WORK_QUEUE_BINDINGS.items())
                + f"; the status service's `{routing.STATUS_QUEUE}.0` .. "
                f"`{routing.STATUS_QUEUE}.{routing.STATUS_PARTITIONS - 1}`, one per partition "
                f"of the `{routing.STATUS_PARTITION_EXCHANGE}` consistent-hash exchange (bound to "
                f"`{routing.ALL_PATTERN}`, hashing the `{routing.JOB_ID_HEADER}` header every "
                "publisher sets to the message's job_id)."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {"host": "localhost:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def _add_change_notices(
    channels: dict[str, Any],
    operations: dict[str, Any],
    schemas: dict[str, Any],
    messages: dict[str, Any],
) -> None:
    """The transient hints on fanout exchanges of their own: not domain messages."""
    for model, exchange, description, summary in (
        (
            JobChanged,
            CHANGES_EXCHANGE,
            "a job's document was written, and here it is. API processes bind an exclusive "
            "queue each, keep the document and wake long polls on that job.",
            "Published by the status service after each write of a job's document.",
        ),
        (
            ApiUsage,
            USAGE_EXCHANGE,
            "what one API process admitted since its last share. The others bind an exclusive "
            "queue each and take it off their own rate-limit buckets and tenant counts.",
            "Published by every API process every `usage_share_interval` seconds it admitted "
            "something.",
        ),
    ):
        name = model.__name__
        schemas[name] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (model.__doc__ or name).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}"},
        }
        channels[name] = {
            "address": exchange,
            "description": (
                f"Transient hints on the `{exchange}` fanout exchange (no envelope, never "
                f"persisted, may be lost): {description}"
            ),
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": exchange,
                        "type": "fanout",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": "0.3.0",
                }
            },
        }
        operations[f"publish{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        }


def _add_request_reply(
    parts: tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]],
    models: tuple[type[BaseModel], type[BaseModel]],
    *,
    routing_key: str,
    queue: str,
    consumers: str,
    reply_prefix: str,
    summary: str,
) -> None:
    """A request on a work queue answered to the asking crawler's own reply queue."""
    channels, operations, schemas, messages = parts
    for model in models:
        name = model.__name__
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (model.__doc__ or name).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{name}"},
        }
    request, reply = (model.__name__ for model in models)
    channels[request] = {
        "address": routing_key,
        "description": (
            f"Routing key `{routing_key}` on the `{routing.EXCHANGE}` topic "
            f"exchange, consumed from the `{queue}` work queue by "
            f"{consumers}. The AMQP `reply_to` names the asking crawler's own queue "
            f"(`{reply_prefix}.<worker id>`), `correlation_id` the request."
        ),
        "messages": {request: {"$ref": f"#/components/messages/{request}"}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": routing.EXCHANGE,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                    "vhost": "/",
                },
                "bindingVersion": "0.3.0",
            }
        },
    }
    channels[reply] = {
        "address": None,
        "description": (
            "The request's `reply_to` queue, through the default exchange, with the request's "
            "`correlation_id`; transient."
        ),
        "messages": {reply: {"$ref": f"#/components/messages/{reply}"}},
    }
    operations[f"send{request}"] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{request}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{request}/messages/{request}"}],
        "reply": {
            "channel": {"$ref": f"#/channels/{reply}"},
            "messages": [{"$ref": f"#/channels/{reply}/messages/{reply}"}],
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"


def write(docs: Path) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "openapi.json").write_text(render(openapi_document()))
    (docs / "asyncapi.json").write_text(render(asyncapi_document()))


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs"))
