"""The API's errors and their RFC 9457 ``application/problem+json`` rendering.

Errors::

    ApiProblem                   base: status, stable type, title
    ├── BadRequest               400 (e.g. a cursor this API did not hand out)
    ├── Unauthorized             401
    ├── Forbidden                403 (e.g. e-mail domain not admitted)
    ├── NotFound                 404 (also another tenant's job)
    ├── Conflict                 409
    ├── Unprocessable            422 (e.g. an Idempotency-Key reused with another body)
    ├── TooManyRequests          429 with Retry-After
    └── ServiceUnavailable       503 with Retry-After

Litestar's own ``HTTPException`` and ``ValidationException`` and any unexpected exception are
rendered the same way, so no response body is ever anything but problem+json on error.
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

__all__ = [
    "PROBLEM_JSON",
    "TYPE_BASE",
    "ApiProblem",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "exception_handlers",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://crawl-platform.dev/problems/"
log = structlog.get_logger("crawl_api")


class ApiProblem(Exception):  # noqa: N818  (RFC 9457 calls them problems)
    status = 400
    type_ = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class BadRequest(ApiProblem):
    status = 400
    type_ = "bad-request"
    title = "Bad request"


class Unauthorized(ApiProblem):
    status = 401
    type_ = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="crawl"'})


class NotFound(ApiProblem):
    status = 404
    type_ = "not-found"
    title = "Not found"


class Conflict(ApiProblem):
    status = 409
    type_ = "conflict"
    title = "Conflict"


class ServiceUnavailable(ApiProblem):
    status = 503
    type_ = "service-unavailable"
    title = "Service unavailable"


class Forbidden(ApiProblem):
    status = 403
    type_ = "forbidden"
    title = "Forbidden"


class Unprocessable(ApiProblem):
    status = 422
    type_ = "unprocessable"
    title = "Request cannot be processed"


class TooManyRequests(ApiProblem):
    status = 429
    type_ = "too-many-requests"
    title = "Too many requests"


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    *,
    type_: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body = {
        "type": TYPE_BASE + type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _on_problem(request: Request[Any, Any, Any], exc: ApiProblem) -> Response[dict[str, Any]]:
    return problem_response(
        request,
        exc.status,
        type_=exc.type_,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        **exc.extra,
    )


def _on_validation(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    errors = exc.extra if isinstance(exc.extra, list) else []
    return problem_response(
        request,
        422,
        type_="validation-error",
        title="Invalid request",
        detail=str(exc.detail) or "the request is not valid",
        errors=errors,
    )


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    title = exc.detail if exc.detail else "HTTP error"
    slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(
        exc.status_code, f"http-{exc.status_code}"
    )
    return problem_response(
        request,
        exc.status_code,
        type_=slug,
        title=title,
        detail=str(exc.detail),
        headers=dict(exc.headers or {}),
    )


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.error("request.unexpected_error", path=request.url.path, exc_info=exc)
    return problem_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        type_="internal-error",
        title="Internal server error",
        detail="the server failed to handle the request; it has been logged",
    )


exception_handlers: dict[type[Exception] | int, Any] = {
    ApiProblem: _on_problem,
    ValidationException: _on_validation,
    HTTPException: _on_http,
    Exception: _on_unexpected,
}
