"""``OPTIONS`` answers that list every method of their path.

Litestar adds an ``OPTIONS`` handler to a path when its first handler is registered, and that
handler's ``Allow`` header keeps listing only the methods registered by then: ``OPTIONS
/api/v1/crawls`` said ``OPTIONS, POST`` without ``GET``. ``AllowMiddleware`` rewrites the header
from the application's routes, which know all of a path's methods.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AllowMiddleware"]


class AllowMiddleware:
    """ASGI middleware; use as ``middleware=[AllowMiddleware]``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._allowed: dict[str, str] | None = None  # path template -> Allow value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") != "OPTIONS":
            await self.app(scope, receive, send)
            return
        allow = self._allow(scope)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and allow is not None:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message["headers"] = [*headers, (b"allow", allow.encode())]
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _allow(self, scope: Scope) -> str | None:
        if self._allowed is None:
            self._allowed = {
                route.path_format: ", ".join(sorted(route.methods))
                for route in scope["app"].routes
                if isinstance(route, HTTPRoute)
            }
        return self._allowed.get(str(scope.get("path_template")))
