"""Bearer tokens and roles (TRACKING_API_TOKENS). No token: 401; a token
whose role may not use the route: 403. ``admin`` may use every route.

A controller's routes name their roles when the class is written, before
any tokens are known: ``allowed(*roles)`` reads the app's tokens, which
create_app keeps in ``app.state`` under TOKENS. The roles each route lets in
are below, once, so the OpenAPI document and the guards cannot differ. Once
the role is known, the same guard checks the caller may see the objects the
path names (adapters/http/ownership.py): every guarded route, one place.

Tokens are kept as digests only and matched in constant time
(adapters/settings_parsing.Tokens)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from adapters.http.ownership import check_path
from adapters.settings_parsing import token_digest, tokens_of

TOKENS = "api_tokens"  # the key of app.state that holds TRACKING_API_TOKENS


def principal(role: str, token: str) -> str:
    """Who wrote, for the audit history: the role and a short digest of the
    token, which tells two tokens apart without revealing either."""
    return principal_of(role, token_digest(token))


def principal_of(role: str, digest: str) -> str:
    """``principal`` from the token's digest (all that is kept of it)."""
    return f"{role}:{digest[:8]}"


def role_of(connection: ASGIConnection[Any, Any, Any, Any], tokens: Mapping[str, str]) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException(
            "this route needs 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller = tokens_of(tokens).match(token)  # constant time, over digests only
    if caller is None:
        raise NotAuthorizedException(
            "the bearer token is not known", headers={"WWW-Authenticate": "Bearer"}
        )
    connection.state.principal = principal_of(caller.role, caller.digest)
    # the merchant account the token acts for (``default`` when it names none)
    connection.state.account = caller.account
    return caller.role


class Requires:
    """The guard of a route that these roles (and admin) may use; the
    OpenAPI document lists the same ``roles``."""

    def __init__(self, tokens: Mapping[str, str] | None, *roles: str) -> None:
        self.tokens = tokens_of(tokens) if tokens is not None else None
        self.roles = tuple(sorted({*roles, "admin"}))

    async def __call__(self, connection: ASGIConnection[Any, Any, Any, Any],
                       _: BaseRouteHandler) -> None:
        tokens = self.tokens if self.tokens is not None else connection.app.state[TOKENS]
        role = role_of(connection, tokens)
        if role not in self.roles:
            raise PermissionDeniedException(
                f"role {role!r} may not use this route (allowed: {', '.join(self.roles)})"
            )
        connection.state.role = role
        # then whose objects it may see: a merchant's own account's only (adapters/http/ownership.py)
        await check_path(connection)


def requires(tokens: Mapping[str, str], *roles: str) -> Requires:
    return Requires(tokens, *roles)


def allowed(*roles: str) -> Requires:
    """The guard of a route these roles (and admin) may use, with the
    tokens of the app it is served by."""
    return Requires(None, *roles)


AGENTS = allowed("agent")
BOOKERS = allowed("merchant", "agent")
SCANNERS = allowed("device", "carrier")
CUSTOMS_WRITERS = allowed("merchant", "agent", "carrier")
CARRIERS = allowed("carrier")
