"""Schemathesis hooks of the OpenAPI contract test (``test_openapi_contract.py``): the only
failures it accepts, each a behaviour of the API that JSON Schema cannot state. The README's
API section lists them; a failure of any other kind fails the test.

1. ``DELETE /api/v1/crawls/{job_id}`` cancels a crawl, it does not delete it: the job, its
   pages, logs and events stay readable (``use_after_free`` expects a 404 after a DELETE).
2. A cursor is opaque: only one the API handed out (``next_cursor``) is valid, so a made-up
   one is a 400, however well formed.
3. ``id_prefix`` takes no other filter and no cursor (a 400 otherwise): a rule across
   parameters, which OpenAPI cannot express.
4. An ``Idempotency-Key`` reused with another body is a 422 by design (the schema cannot tie a
   header value to a body).
5. Request bodies are validated in pydantic's lax mode, as JSON APIs commonly are: a number
   written as a string (``"5"``), an integral float (``5.0``) or a boolean for a number is
   coerced, not refused. Only a body that differs from the schema in nothing else is accepted.
6. A re-crawl's ``since`` must name a finished job of the caller's tenant with the same start
   URL: a well-formed id that names no such job is a 422 naming ``since`` (a reference to
   other data, which a schema cannot state).
7. A schedule's timing is checked beyond its shape: exactly one of ``every`` and ``cron``
   (``everySeconds`` / ``cron`` on the seed route), a cron expression croniter accepts and
   that fires at all (``0 0 31 2 *`` never does), a time zone the IANA database holds; and
   its ``crawl`` names no ``since`` (``"since": "previous"`` chains runs). Each is a 422
   whose error says which rule.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from pydantic import BaseModel, ValidationError
from schemathesis.core.failures import AcceptedNegativeData, Failure
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.hooks import HookContext
from schemathesis.openapi.checks import RejectedPositiveData, UseAfterFree

from crawl_contracts import CrawlRequest

# The request bodies by operation, as the API validates them.
_BODIES: dict[str, type[BaseModel]] = {"POST /api/v1/crawls": CrawlRequest}


def _problem(response: Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _only_coerced(case: Case[Any]) -> bool:
    """Whether the case's body is valid for its model but for lax-mode coercions."""
    model = _BODIES.get(case.operation.label)
    if model is None or not isinstance(case.body, dict):
        return False
    raw = json.dumps(case.body)
    try:
        model.model_validate_json(raw)
    except ValidationError:
        return False
    try:
        model.model_validate_json(raw, strict=True)
    except ValidationError:
        return True
    return False


def accepted(failure: Failure, case: Case[Any], response: Response) -> bool:
    """Whether ``failure`` is one of the documented exclusions."""
    if isinstance(failure, AcceptedNegativeData):
        return _only_coerced(case)
    if isinstance(failure, UseAfterFree):
        return failure.free.startswith("DELETE /api/v1/crawls/")
    if not isinstance(failure, RejectedPositiveData):
        return False
    problem = _problem(response)
    if response.status_code == 400:
        made_up_cursor = "cursor" in (case.query or {}) and (
            problem.get("parameter") == "cursor" or "cursor" in str(problem.get("detail"))
        )
        return made_up_cursor or problem.get("parameter") == "id_prefix"
    if response.status_code != 422:
        return False
    reused_key = str(problem.get("type")).endswith("/idempotency-key-reused")
    return reused_key or problem.get("parameter") == "since" or _schedule_rule(case, problem)


_SCHEDULE_ROUTES = {
    "POST /api/v1/schedules",
    "POST /api/assistants/{assistant_id}/webcrawl/schedules",
}
_SCHEDULE_RULES = (
    "give either every",
    "cron must be five fields",
    "never fires",
    "cron: ",
    "unknown time zone",
    "names no `since`",
)


def _schedule_rule(case: Case[Any], problem: dict[str, Any]) -> bool:
    """Whether a refused schedule broke one of the timing rules of exclusion 7 (alone)."""
    errors = problem.get("errors")
    if case.operation.label not in _SCHEDULE_ROUTES or not isinstance(errors, list) or not errors:
        return False
    return all(any(rule in str(e.get("message")) for rule in _SCHEDULE_RULES) for e in errors)


@schemathesis.hook
def filter_failure(
    context: HookContext, failure: Failure, case: Case[Any], response: Response
) -> bool:
    """Keeps every failure but the documented exclusions."""
    return not accepted(failure, case, response)
