"""Parsing one TRACKING_* value: ports, counts, choices, API tokens, CORS
origins, files; each failure a ``ConfigError`` naming the variable.
adapters/settings.py reads the environment with these (and re-exports
``ConfigError``, ``Tokens`` and ``_redact`` for its importers).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

from tracking.account import DEFAULT_ACCOUNT, check_account
from tracking.errors import InvalidInput

ROLES = frozenset({"merchant", "agent", "device", "carrier", "admin"})
SHIPPED: Literal["shipped"] = "shipped"  # the HS nomenclature shipped in the package


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message names it."""


def _port(value: str, variable: str = "TRACKING_HTTP_PORT") -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"{variable}: {value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{variable}: {port} is not between 1 and 65535")
    return port


def _positive(variable: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{variable}: {value!r} is not a whole number") from None
    if number < 1:
        raise ConfigError(f"{variable}: must be at least 1 (got {number})")
    return number


def _choice(variable: str, value: str | None, choices: tuple[str, ...],
            normal: Callable[[str], str]) -> str | None:
    if not value:
        return None
    if normal(value) not in choices:
        raise ConfigError(f"{variable}: {value!r} is not one of {', '.join(choices)}")
    return normal(value)


def token_digest(token: str) -> str:
    """What is kept of an API token once read: its SHA-256 (hex). A token is
    a long random secret, so a fast hash is enough (no password stretching);
    the first 8 digits name it in the audit trail (``principal``)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Caller(NamedTuple):
    """Who a presented token is: its role, its account, its digest."""

    role: str
    account: str
    digest: str


class Tokens(dict[str, str]):
    """Token digest -> role, as every guard reads it, and the account each
    merchant token names (a token naming none acts for ``default``). Built
    from plain tokens, it keeps only their digests: the plain tokens are not
    kept in memory structures, printed or logged. Several tokens may have
    the same role and account (rotation: the old and the new both valid)."""

    def __init__(self, roles: Mapping[str, str] = {}, accounts: Mapping[str, str] = {}) -> None:
        super().__init__({token_digest(t): role for t, role in roles.items()})
        self.accounts: Mapping[str, str] = {token_digest(t): a for t, a in accounts.items()}

    def match(self, token: str) -> Caller | None:
        """The caller the token is, or None; every known digest is compared
        in constant time (hmac.compare_digest) and none is skipped, so the
        answer's timing says nothing of which one matched or how nearly."""
        presented = token_digest(token).encode()
        found: str | None = None
        for known in self:
            if hmac.compare_digest(known.encode(), presented):
                found = known
        if found is None:
            return None
        return Caller(self[found], self.accounts.get(found, DEFAULT_ACCOUNT), found)

    def account(self, token: str) -> str:
        """The account a (plain) token acts for."""
        return self.accounts.get(token_digest(token), DEFAULT_ACCOUNT)

    def role(self, token: str) -> str | None:
        caller = self.match(token)
        return caller.role if caller else None


def tokens_of(tokens: Mapping[str, str]) -> Tokens:
    """``tokens`` as Tokens: a plain token -> role mapping (tests, callers
    building Settings by hand) is hashed; Tokens are kept as they are."""
    return tokens if isinstance(tokens, Tokens) else Tokens(tokens)


def _tokens(value: str) -> Tokens:
    roles: dict[str, str] = {}
    accounts: dict[str, str] = {}
    for i, item in enumerate(filter(None, (p.strip() for p in value.split(","))), 1):
        role, sep, rest = item.partition(":")
        token, named, account = rest.partition(":")
        if not sep or not token:
            raise ConfigError(f"TRACKING_API_TOKENS: entry {i} is not role:token")
        if role not in ROLES:
            raise ConfigError(
                f"TRACKING_API_TOKENS: entry {i} has unknown role {role!r} "
                f"(roles: {', '.join(sorted(ROLES))})"
            )
        if named:
            if role != "merchant":
                raise ConfigError(f"TRACKING_API_TOKENS: entry {i}: only a merchant token names "
                                  "an account (merchant:<token>:<account>)")
            try:
                account = check_account("account", account)
            except InvalidInput as e:
                raise ConfigError(f"TRACKING_API_TOKENS: entry {i}: the account {e.reason}") from None
        if token in roles and (roles[token], accounts.get(token)) != (role, account or None):
            raise ConfigError(f"TRACKING_API_TOKENS: entry {i} repeats an earlier entry's token "
                              "with another role or account (a token is one caller)")
        roles[token] = role
        if named:
            accounts[token] = account
    return Tokens(roles, accounts)


def _origins(value: str) -> frozenset[str]:
    origins = frozenset(o.strip() for o in value.split(",") if o.strip())
    for origin in origins - {"*"}:
        url = urlsplit(origin)
        if url.scheme not in ("http", "https") or not url.hostname or url.path or url.query:
            raise ConfigError(f"TRACKING_CORS_ORIGINS: {origin!r} is not an origin "
                              "(scheme://host[:port], no path, such as https://shop.example)")
    return origins


def _file(name: str, value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{name}: {value!r} is not a readable file")
    return path


def _nomenclature(value: str | None) -> Path | Literal["shipped"] | None:
    if not value:
        return SHIPPED
    if value.strip().lower() == "none":
        return None
    return _file("TRACKING_HS_NOMENCLATURE", value)


def _redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
