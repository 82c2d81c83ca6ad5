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

from adapters.http.auth import principal
from adapters.http.signouts import MemorySignOuts, SignOuts

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
    def __init__(self, tokens: Mapping[str, str], lifetime: int = LIFETIME_SECONDS,
                 sign_outs: SignOuts | None = None) -> None:
        self.tokens = tokens
        self.lifetime = lifetime
        material = "\n".join(sorted(f"{role}:{token}" for token, role in tokens.items()))
        self.key = hashlib.sha256(b"tracking-console-session\n" + material.encode()).digest()
        # Litestar's CSRFConfig secret: also the same in every worker.
        self.csrf_secret = hashlib.sha256(b"tracking-console-csrf\n" + material.encode()).hexdigest()
        self.principals = {principal(role, token): role for token, role in tokens.items()}
        self.revoked = sign_outs if sign_outs is not None else MemorySignOuts()

    def sign_in(self, token: str) -> tuple[ConsoleSession, str]:
        """The session of an agent's or admin's token and its cookie value;
        SignInRefused otherwise."""
        for known, role in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                if role not in CONSOLE_ROLES:
                    raise SignInRefused(known=True)
                session = ConsoleSession(principal(role, known), role,
                                         int(time.time()) + self.lifetime,
                                         secrets.token_urlsafe(12))
                return session, self._encode(session)
        raise SignInRefused(known=False)

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
        if (session.expires < time.time()
                or self.principals.get(session.principal) != session.role
                or session.nonce in self.revoked):
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
