"""The support console's session: signing in with an agent (or admin)
bearer token gives a signed, expiring cookie (HttpOnly, SameSite=Strict,
Secure when served over HTTPS), scoped to /agent.

The cookie says who (the token's principal, never the token) and until
when, signed with a key derived from TRACKING_API_TOKENS: every worker
process agrees on it with nothing more to configure, and removing a token
from the list ends its sessions. Signing out records the session's nonce
where every worker reads it (adapters/http/signouts.py: the database), so
the cookie is refused by every worker process from then on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

import msgspec

from adapters.http.auth import principal_of
from adapters.http.signouts import MemorySignOuts, SignOuts
from adapters.settings_parsing import tokens_of

COOKIE = "tracking_console"
PATH = "/agent"
LIFETIME_SECONDS = 8 * 3600
CONSOLE_ROLES = frozenset({"agent", "admin"})


class ConsoleSession(msgspec.Struct, frozen=True):
    principal: str
    role: str
    expires: int  # Unix time
    nonce: str


class SignInRefused(Exception):
    """The token is unknown (``known`` False) or its role may not use the console."""

    def __init__(self, known: bool) -> None:
        super().__init__("refused")
        self.known = known


class Sessions:
    def __init__(self, tokens: Mapping[str, str], lifetime: int = LIFETIME_SECONDS, *,
                 roles: frozenset[str] = CONSOLE_ROLES, purpose: str = "console",
                 sign_outs: SignOuts | None = None) -> None:
        """``roles`` may sign in; ``purpose`` keeps one set of pages' cookies
        (signed with a key of its own) from being good for another's;
        ``sign_outs`` keeps the signed-out sessions (shared by every worker)."""
        self.tokens = tokens_of(tokens)  # digests only
        self.lifetime = lifetime
        self.roles = roles
        material = "\n".join(sorted(f"{role}:{digest}" for digest, role in self.tokens.items()))
        prefix = f"tracking-{purpose}-".encode()
        self.key = hashlib.sha256(prefix + b"session\n" + material.encode()).digest()
        # Litestar's CSRFConfig secret: also the same in every worker.
        self.csrf_secret = hashlib.sha256(prefix + b"csrf\n" + material.encode()).hexdigest()
        self.principals = {principal_of(role, d): role for d, role in self.tokens.items()}
        self.revoked = sign_outs if sign_outs is not None else MemorySignOuts()

    def sign_in(self, token: str) -> tuple[ConsoleSession, str]:
        """The session of an agent's or admin's token and its cookie value;
        SignInRefused otherwise."""
        caller = self.tokens.match(token)  # constant time, over digests only
        if caller is None:
            raise SignInRefused(known=False)
        if caller.role not in self.roles:
            raise SignInRefused(known=True)
        session = ConsoleSession(principal_of(caller.role, caller.digest), caller.role,
                                 int(time.time()) + self.lifetime, secrets.token_urlsafe(12))
        return session, self._encode(session)

    def session(self, cookie: str | None) -> ConsoleSession | None:
        """The cookie's session if it is ours, unexpired, not signed out,
        and its token is still configured with that role."""
        if not cookie or "." not in cookie:
            return None
        payload, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            session = msgspec.json.decode(base64.urlsafe_b64decode(payload.encode()),
                                          type=ConsoleSession)
        except (ValueError, msgspec.DecodeError):
            return None
        if (session.expires < time.time() or session.nonce in self.revoked
                or session.role not in self.roles
                or self.principals.get(session.principal) != session.role):
            return None
        return session

    def sign_out(self, session: ConsoleSession) -> None:
        """End the session in every worker: its cookie is refused from now on."""
        self.revoked.add(session.nonce, session.expires)

    def _encode(self, session: ConsoleSession) -> str:
        payload = base64.urlsafe_b64encode(msgspec.json.encode(session)).decode()
        return f"{payload}.{self._mac(payload)}"

    def _mac(self, payload: str) -> str:
        return hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()
