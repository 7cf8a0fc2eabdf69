"""Reading single request headers straight from the ASGI scope.

Litestar builds a case-insensitive multi-dict of *every* header the first time a handler or
dependency asks for one, which was an eighth of the CPU of a status poll. The hot paths
(authentication, the status read) need two or three headers: they look them up in the raw
list instead. Servers lower-case header names (ASGI); the comparison does not rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.enums import ParamType
from litestar.openapi.spec import OpenAPIType, Parameter, Schema
from litestar.types import Scope

from crawl_api.problems import ProblemOperation

__all__ = ["documented_headers", "header"]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), or None."""
    for key, value in scope["headers"]:
        if key == name or key.lower() == name:
            return value.decode("latin-1")
    return None


def documented_headers(*names: str) -> type[ProblemOperation]:
    """An OpenAPI ``Operation`` that lists the optional request headers ``names``, for a
    handler that reads them with :func:`header` rather than as declared parameters."""
    extra = [
        Parameter(
            name=name,
            param_in=ParamType.HEADER,
            required=False,
            deprecated=False,
            schema=Schema(type=OpenAPIType.STRING),
        )
        for name in names
    ]

    @dataclass
    class WithHeaders(ProblemOperation):
        def __post_init__(self) -> None:
            super().__post_init__()
            self.parameters = [*(self.parameters or []), *extra]

    return WithHeaders
