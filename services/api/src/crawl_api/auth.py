"""Bearer-token authentication: a token maps to a principal (user, tenant, e-mail)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from litestar.connection import ASGIConnection

from crawl_api.errors import Unauthorized
from crawl_api.settings import PrincipalConfig

__all__ = ["Authenticator", "Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    tenant: str
    email: str | None = None


class Authenticator:
    """Resolves ``Authorization: Bearer <token>`` against the configured static tokens."""

    def __init__(self, tokens: dict[str, PrincipalConfig]) -> None:
        self._tokens = [(token.encode(), cfg) for token, cfg in tokens.items()]

    def authenticate(self, connection: ASGIConnection) -> Principal:  # type: ignore[type-arg]
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a bearer token is required")
        presented = token.strip().encode()
        match = None
        for known, cfg in self._tokens:  # constant time per token: no early exit on a match
            if hmac.compare_digest(known, presented):
                match = cfg
        if match is None:
            raise Unauthorized("the bearer token is not valid")
        return Principal(user=match.user, tenant=match.tenant, email=match.email)
