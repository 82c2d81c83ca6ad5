"""Signatures of pushed carrier payloads: an HMAC over the raw body, compared
in constant time, and for sources that sign a time, a tolerance so that an
old signed body cannot be replayed later. A replay inside the tolerance is
harmless: every event is recorded once by its source id."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta


class SignatureRefused(Exception):
    """The payload is not signed, or not by someone holding the secret, or
    signed too long ago. Nothing of it is recorded (401)."""


def expected(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def verify_hex(secret: str | None, body: bytes, header: str | None, *, prefix: str = "") -> None:
    """``header`` is ``prefix`` + the hex HMAC-SHA256 of ``body``."""
    _check(secret, header)
    assert secret is not None and header is not None
    value = header.strip()
    if prefix and not value.lower().startswith(prefix):
        raise SignatureRefused(f"the signature must start with {prefix!r}")
    try:
        given = bytes.fromhex(value[len(prefix):])
    except ValueError:
        raise SignatureRefused("the signature is not hexadecimal") from None
    if not hmac.compare_digest(given, expected(secret, body)):
        raise SignatureRefused("the signature does not match the body")


def verify_base64(secret: str | None, body: bytes, header: str | None) -> None:
    """``header`` is the base64 HMAC-SHA256 of ``body``."""
    _check(secret, header)
    assert secret is not None and header is not None
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except ValueError:
        raise SignatureRefused("the signature is not base64") from None
    if not hmac.compare_digest(given, expected(secret, body)):
        raise SignatureRefused("the signature does not match the body")


def check_fresh(signed_at: datetime, now: datetime, tolerance: timedelta) -> None:
    if abs(now - signed_at) > tolerance:
        raise SignatureRefused(
            f"signed at {signed_at.isoformat()}, more than {tolerance.total_seconds():.0f} s "
            f"from now ({now.isoformat()}): refused as a possible replay"
        )


def _check(secret: str | None, header: str | None) -> None:
    if not secret:
        raise SignatureRefused("no secret is configured for this source, so nothing it "
                               "sends can be verified")
    if not header:
        raise SignatureRefused("the signature header is missing")
