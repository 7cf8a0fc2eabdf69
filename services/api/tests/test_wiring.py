"""The composition root: the application builds, and documents itself, in the framework's
current idioms (no deprecation warning from how our code uses Litestar)."""

from __future__ import annotations

import warnings

from crawl_api.app import create_app
from crawl_api.ports import Ports
from crawl_api.settings import ApiSettings


def test_the_app_and_its_openapi_document_build_without_deprecation_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        app = create_app(ApiSettings(tokens={}))
        assert app.openapi_schema.paths


def test_every_port_is_a_dependency_handlers_can_name() -> None:
    app = create_app(ApiSettings(tokens={}))
    assert {*Ports.__annotations__, "settings", "authenticator", "principal"} <= set(
        app.dependencies
    )
