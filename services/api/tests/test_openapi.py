"""The OpenAPI document tells the truth: every error answer is a documented problem+json,
request bodies carry their validators' constraints, and OPTIONS lists every method."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import TestClient

from crawl_api.app import create_app
from crawl_api.settings import ApiSettings
from crawl_api.specs import openapi_document

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_error_answer_is_a_documented_problem(document: dict[str, Any]) -> None:
    for name, operation in _operations(document):
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                assert list(answer["content"]) == [PROBLEM], (name, status)
                schema = answer["content"][PROBLEM]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (name, status)


def test_authenticated_routes_document_their_refusals(document: dict[str, Any]) -> None:
    for name, operation in _operations(document):
        if "/health/" in name:
            continue
        assert {"401", "403", "429"} <= set(operation["responses"]), name
        if "{" in name:  # a job, run or assistant of another tenant is not found
            assert "404" in operation["responses"], name


def test_the_submission_body_states_what_the_validator_refuses(document: dict[str, Any]) -> None:
    body = document["paths"]["/api/v1/crawls"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["additionalProperties"] is False
    url = re.compile(schema["properties"]["url"]["pattern"])
    assert url.match("https://example.com:8443/a b?q#f")
    for refused in ("0", "ftp://example.com/", "http://user@example.com/", "http://a:65536/"):
        assert not url.match(refused), refused
    assert schema["properties"]["include"]["items"]["format"] == "regex"
    duration = schema["properties"]["max_duration"]["anyOf"][0]
    assert duration["exclusiveMinimum"] == 0  # Litestar's own translation dropped bounds of 0
    assert schema["properties"]["min_delay"]["anyOf"][0]["minimum"] == 0


def test_optional_headers_are_strings_never_null(document: dict[str, Any]) -> None:
    for name, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header":
                assert parameter["schema"].get("type") == "string", (name, parameter["name"])


def test_options_lists_every_method_of_the_path() -> None:
    client = TestClient(create_app(ApiSettings(tokens={})))  # no lifespan: no clients needed
    assert client.options("/api/v1/crawls").headers["allow"] == "GET, OPTIONS, POST"
    assert client.options("/api/v1/crawls/x").headers["allow"] == "DELETE, GET, OPTIONS"
