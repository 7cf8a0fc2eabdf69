"""What the OpenAPI document says about error answers: every route lists each status it may
answer with, and each error's body is the RFC 9457 problem the API renders
(:mod:`crawl_api.errors`), as ``application/problem+json``.

``problems(404, 409)`` gives a handler's ``responses=``; the statuses every authenticated
route may answer (``AUTHENTICATED``: no or a bad token, an e-mail domain not admitted, the
caller's rate limit) are named once here. Litestar documents a ``400`` (``application/json``)
for every route with parameters, for its validation failures; this API answers those ``422``
problem+json, so a route's ``operation_class`` is ``ProblemOperation`` (or a subclass), which
keeps a ``400`` only where the route documents one itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIResponse, OpenAPIType, Operation
from pydantic import BaseModel, ConfigDict, Field

from crawl_api.errors import PROBLEM_JSON, TYPE_BASE

__all__ = [
    "AUTHENTICATED",
    "HEADER_STRING",
    "Problem",
    "ProblemOperation",
    "answer_headers",
    "no_content",
    "problems",
]

AUTHENTICATED = (401, 403, 429)

HEADER_STRING: dict[str, Any] = {"one_of": None, "type": OpenAPIType.STRING}
"""``schema_extra`` of an optional header: Litestar documents ``str | None`` as "a string or
null", and a header is never null (an absent header is how it is left out)."""

_WHEN = {
    400: "The request cannot be read, or a value is not one this API handed out (e.g. a cursor)",
    401: "No bearer token, or one that is not valid (with `WWW-Authenticate`)",
    403: "The caller's e-mail domain is not admitted",
    404: "No such resource for the caller's tenant (another tenant's is not found either)",
    409: "The resource is in a state that does not allow it (e.g. the crawl has finished)",
    413: "The request body is larger than the API accepts",
    422: "The request fails validation (`errors` lists each problem), or an "
    "`Idempotency-Key` was reused with another body",
    429: "Over the caller's request rate, or the tenant's unfinished-job cap (with `Retry-After`)",
    503: "The broker or the database is not available (with `Retry-After`)",
}


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details). Some carry more members: ``errors``
    (validation), ``parameter`` (the offending parameter), ``job_status``, ``limit``."""

    model_config = ConfigDict(title="Problem", extra="allow")

    type: str = Field(
        description="URI naming the kind of problem",
        json_schema_extra={"format": "uri", "pattern": "^" + TYPE_BASE.replace(".", r"\.")},
    )
    title: str = Field(description="Short summary of the kind of problem")
    status: int = Field(ge=400, le=599, description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request")
    instance: str = Field(description="The path of the request")
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Validation problems, one per invalid value (422 only)"
    )
    parameter: str | None = Field(default=None, description="The parameter at fault, if one")


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers ``statuses``, documented as problem+json."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=_WHEN[status],
            generate_examples=False,
        )
        for status in sorted(set(statuses))
    }


def no_content(status: int, description: str) -> dict[int, ResponseSpec]:
    """An answer without a body (e.g. ``304 Not Modified``)."""
    return {status: ResponseSpec(data_container=None, description=description)}


def answer_headers(
    required: dict[str, str], optional: dict[str, str] | None = None
) -> list[ResponseHeader]:
    """The headers a success answer carries (name -> description), for the document only: the
    handler sets them. ``required`` ones are on every such answer."""
    return [
        ResponseHeader(
            name=name, value="", documentation_only=True, required=True, description=text
        )
        for name, text in required.items()
    ] + [
        ResponseHeader(name=name, value="", documentation_only=True, description=text)
        for name, text in (optional or {}).items()
    ]


@dataclass
class ProblemOperation(Operation):
    """An operation without Litestar's own ``400`` answer (one that is not problem+json)."""

    def __post_init__(self) -> None:
        responses = self.responses or {}
        answer = responses.get("400")
        if isinstance(answer, OpenAPIResponse) and PROBLEM_JSON not in (answer.content or {}):
            del responses["400"]
