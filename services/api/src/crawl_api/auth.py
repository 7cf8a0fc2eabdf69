"""Bearer-token authentication: a token maps to a principal (user, tenant, e-mail).

Two kinds of token are accepted: static API keys from settings, and JWTs (HS256 with a shared
secret, RS256 with a public key) whose issuer and audience are checked when configured. An
e-mail domain policy (like a UPN domain policy) then admits only principals whose e-mail
belongs to an allowed domain.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import jwt
from litestar.connection import ASGIConnection

from crawl_api.errors import Forbidden, Unauthorized
from crawl_api.rawheaders import header
from crawl_api.settings import JwtSettings, PrincipalConfig

__all__ = ["Authenticator", "EmailDomainPolicy", "Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    tenant: str
    email: str | None = None


class EmailDomainPolicy:
    """Admits principals whose e-mail (or UPN) ends in one of the allowed domains.

    An empty list admits everyone. Subdomains are not implied: list them.
    """

    def __init__(self, domains: list[str]) -> None:
        self._domains = frozenset(d.lower().lstrip("@") for d in domains)

    def check(self, principal: Principal) -> None:
        if not self._domains:
            return
        email = (principal.email or "").lower()
        _, at, domain = email.rpartition("@")
        if not at or domain not in self._domains:
            raise Forbidden("the caller's e-mail domain is not admitted")


class Authenticator:
    """Resolves ``Authorization: Bearer <token>`` against static tokens, then as a JWT."""

    def __init__(
        self,
        tokens: dict[str, PrincipalConfig],
        jwt_settings: JwtSettings | None = None,
        policy: EmailDomainPolicy | None = None,
    ) -> None:
        self._tokens = [(token.encode(), cfg) for token, cfg in tokens.items()]
        self._jwt = jwt_settings or JwtSettings()
        self._policy = policy or EmailDomainPolicy([])
        self._keys: dict[str, str] = {}
        if self._jwt.hs256_secret:
            self._keys["HS256"] = self._jwt.hs256_secret
        if self._jwt.rs256_public_key:
            self._keys["RS256"] = self._jwt.rs256_public_key

    def authenticate(self, connection: ASGIConnection) -> Principal:  # type: ignore[type-arg]
        value = header(connection.scope, b"authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a bearer token is required")
        return self.authenticate_token(token.strip())

    def authenticate_token(self, token: str) -> Principal:
        """The principal of a bearer token (however it was presented)."""
        principal = self._static(token) or self._from_jwt(token)
        self._policy.check(principal)
        return principal

    def _static(self, token: str) -> Principal | None:
        presented = token.encode()
        match = None
        for known, cfg in self._tokens:  # constant time per token: no early exit on a match
            if hmac.compare_digest(known, presented):
                match = cfg
        if match is None:
            return None
        return Principal(user=match.user, tenant=match.tenant, email=match.email)

    def _from_jwt(self, token: str) -> Principal:
        if not self._keys or token.count(".") != 2:
            raise Unauthorized("the bearer token is not valid")
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            key = self._keys.get(str(algorithm))
            if key is None:
                raise Unauthorized(f"tokens signed with {algorithm!r} are not accepted")
            claims = jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],  # pinned: never let the token choose "none"/HS-by-RS
                issuer=self._jwt.issuer,
                audience=self._jwt.audience,
                leeway=self._jwt.leeway_seconds,
                options={
                    "require": ["sub", "exp"],
                    "verify_aud": self._jwt.audience is not None,
                    "verify_iss": self._jwt.issuer is not None,
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the bearer token is not valid: {exc}") from exc
        tenant = claims.get(self._jwt.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise Unauthorized(f"the token carries no {self._jwt.tenant_claim!r} claim")
        email = claims.get(self._jwt.email_claim)
        return Principal(
            user=str(claims["sub"]),
            tenant=tenant,
            email=email if isinstance(email, str) else None,
        )
