"""Parsing one TRACKING_* value: ports, counts, choices, API tokens, CORS
origins, files; each failure a ``ConfigError`` naming the variable.
adapters/settings.py reads the environment with these (and re-exports
``ConfigError``, ``Tokens`` and ``_redact`` for its importers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal
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


class Tokens(dict[str, str]):
    """Token -> role, as every guard reads it, and the account each merchant
    token names (a token naming none acts for ``default``)."""

    def __init__(self, roles: Mapping[str, str] = {}, accounts: Mapping[str, str] = {}) -> None:
        super().__init__(roles)
        self.accounts: Mapping[str, str] = dict(accounts)

    def account(self, token: str) -> str:
        return self.accounts.get(token, DEFAULT_ACCOUNT)


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
                accounts[token] = check_account("account", account)
            except InvalidInput as e:
                raise ConfigError(f"TRACKING_API_TOKENS: entry {i}: the account {e.reason}") from None
        roles[token] = role
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
