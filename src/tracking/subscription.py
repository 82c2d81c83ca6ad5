"""A customer's request to hear about a parcel by e-mail.

The address is personal data: it lives in the shipment's events sealed
under the recipient's key (tracking.personal_data, so the personal-data
erasure reaches it) and never in the public tracking view.
Sending is the notifications' business; this only records who asked.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from typing import Self

import msgspec

from tracking.errors import InvalidInput
from tracking.identifiers import CheckedStr
from tracking.personal_data import Sealed
from tracking.route import require_aware
from tracking.validation import validating

MAX_EMAIL = 254  # RFC 5321's limit on a forward path
# One @, no spaces or controls, a dotted domain: what a mail system can route.
# Deliverability is for the sender to find out, not this check.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z0-9]{2,8})*")


class EmailAddress(CheckedStr):
    """An e-mail address as typed, with its domain lower-cased."""

    __slots__ = ()

    def __new__(cls, value: str, field: str = "email") -> Self:
        if not isinstance(value, str):
            raise InvalidInput(field, "must be a string")
        text = value.strip()
        if len(text) > MAX_EMAIL or not text.isprintable() or not _EMAIL.fullmatch(text):
            raise InvalidInput(field, "is not an e-mail address (name@example.com)")
        local, domain = text.rsplit("@", 1)
        return str.__new__(cls, f"{local}@{domain.lower()}")


class Subscription(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Who asked to be told, in which language, and when."""

    email: Sealed  # an EmailAddress, sealed
    language: str
    subscribed_at: datetime

    def __post_init__(self) -> None:
        if not validating():
            return
        if not _LANGUAGE.fullmatch(self.language):
            raise InvalidInput("language", f"{self.language!r} is not a language tag")
        require_aware("subscribed_at", self.subscribed_at)


def postcode_matches(recipient_postcode: str, given: str) -> bool:
    """Whether someone gave the recipient's postcode (spaces and case aside),
    compared in constant time: the answer to a guess is all a guess learns."""

    def normal(code: str) -> bytes:
        return "".join(code.split()).upper().encode()

    return bool(given) and hmac.compare_digest(normal(recipient_postcode), normal(given))
