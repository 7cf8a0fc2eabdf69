"""A small synchronous client of the REST API, for ``crawlctl``.

Errors (each carries the message shown to the user and the process exit code)::

    CliError                   base
    ├── ApiUnreachableError         no answer from the API (down, wrong URL, timeout)      exit 4
    ├── ApiRefusedError             the API answered with a problem (401, 404, 409, 422)   exit 4
    ├── NoSuchCrawlError            no crawl of the caller's has an id that starts so      exit 4
    ├── AmbiguousIdError            several do: the id prefix names no single crawl        exit 2
    └── RouteMissingError           this API server lacks the route (404/405 on the route) exit 5

The token goes only into the ``Authorization`` header; it is never printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

__all__ = [
    "AmbiguousIdError",
    "ApiClient",
    "ApiRefusedError",
    "ApiUnreachableError",
    "CliError",
    "NoSuchCrawlError",
    "RouteMissingError",
]

CRAWLS = "/api/v1/crawls"
SCHEDULES = "/api/v1/schedules"


class CliError(Exception):
    exit_code = 4

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ApiUnreachableError(CliError):
    pass


class ApiRefusedError(CliError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RouteMissingError(CliError):
    exit_code = 5


class NoSuchCrawlError(CliError):
    pass


class AmbiguousIdError(CliError):
    exit_code = 2


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = [f"{e.get('key', '?')}: {e.get('message', '')}" for e in errors[:5]]
            detail = f"{detail} ({'; '.join(parts)})"
        return detail
    return response.reason_phrase


class ApiClient:
    """Calls the API at ``base_url`` with a bearer token; raises ``CliError``s, never tracebacks."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "crawlctl"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(
        self, method: str, path: str, *, route: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ApiUnreachableError(f"the API at {self.base_url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ApiUnreachableError(
                f"cannot reach the API at {self.base_url} ({type(exc).__name__}); "
                "is it running? Set --api-url or CRAWLCTL_API_URL"
            ) from exc
        if response.status_code == 405 or (
            route is not None and response.status_code == 404 and _route_absent(response)
        ):
            raise RouteMissingError(
                f"this API server does not offer {method} {route or path} yet "
                f"(it answered {response.status_code})"
            )
        if response.status_code == 401:
            raise ApiRefusedError(
                f"the API refused the token: {_detail(response)}. Set --token or CRAWLCTL_TOKEN",
                401,
            )
        if response.status_code >= 400:
            raise ApiRefusedError(
                f"{_detail(response)} (HTTP {response.status_code})", response.status_code
            )
        return response

    def submit(self, request: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = self._call("POST", f"{CRAWLS}/", json=request).json()
        return body

    def crawl(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self._call("GET", f"{CRAWLS}/{job_id}").json()
        return body

    def crawls(self, *, status: str | None, limit: int) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        body: dict[str, Any] = self._call(
            "GET", CRAWLS, route=f"GET {CRAWLS}", params=params
        ).json()
        return body

    def crawls_by_prefix(self, prefix: str, *, limit: int) -> list[dict[str, Any]]:
        """The caller's crawls whose id starts with ``prefix``, in id order (at most ``limit``)."""
        params = {"id_prefix": prefix, "limit": limit}
        body = self._call("GET", CRAWLS, route=f"GET {CRAWLS}", params=params).json()
        return list(body.get("items", []))

    def cancel(self, job_id: str) -> dict[str, Any]:
        response = self._call("DELETE", f"{CRAWLS}/{job_id}", route=f"{CRAWLS}/{{id}}")
        return dict(response.json()) if response.content else {}

    def pages(self, job_id: str, *, limit: int = 200) -> Iterator[dict[str, Any]]:
        """Every page of a job, following ``next_cursor``."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            body = self._call("GET", f"{CRAWLS}/{job_id}/pages", params=params).json()
            yield from body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return

    def logs(self, job_id: str, *, after: int | None) -> list[dict[str, Any]]:
        params = {"after": after} if after is not None else {}
        body = self._call(
            "GET", f"{CRAWLS}/{job_id}/logs", route=f"{CRAWLS}/{{id}}/logs", params=params
        ).json()
        return list(body.get("items", []))

    def create_schedule(self, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(
            "POST", f"{SCHEDULES}/", route=f"POST {SCHEDULES}", json=body
        ).json()
        return answer

    def schedules(self, *, limit: int) -> list[dict[str, Any]]:
        body = self._call("GET", SCHEDULES, route=f"GET {SCHEDULES}", params={"limit": limit})
        return list(body.json().get("items", []))

    def schedule(self, schedule_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self._call("GET", f"{SCHEDULES}/{schedule_id}").json()
        return body

    def schedule_runs(self, schedule_id: str, *, limit: int) -> list[dict[str, Any]]:
        body = self._call("GET", f"{SCHEDULES}/{schedule_id}/runs", params={"limit": limit})
        return list(body.json().get("items", []))

    def schedule_action(self, schedule_id: str, action: str) -> dict[str, Any]:
        """``pause`` or ``resume`` the schedule; its state after."""
        body: dict[str, Any] = self._call("POST", f"{SCHEDULES}/{schedule_id}/{action}").json()
        return body

    def delete_schedule(self, schedule_id: str) -> None:
        self._call("DELETE", f"{SCHEDULES}/{schedule_id}")


def _route_absent(response: httpx.Response) -> bool:
    """A 404 for a missing route, not for a missing job: the router's generic 'Not Found'."""
    return _detail(response).strip().lower() in ("not found", "")
