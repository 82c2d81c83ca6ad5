"""What a merchant books: who carries it, from where to where, by when, to whom.

The recipient comes in plain (``Recipient``) and is sealed before it is
recorded (``tracking.personal_data``): a recorded booking holds a
``SealedRecipient``, or a plain one only when it was recorded before
sealing existed (read as not yet sealed). Both are tagged (``form``) so a
stored booking says which it holds."""

from __future__ import annotations

from datetime import datetime

import msgspec

from tracking.account import DEFAULT_ACCOUNT, check_account
from tracking.errors import InvalidInput
from tracking.personal_data import SealedRecipient
from tracking.validation import validating
from tracking.identifiers import CountryCode, Locode
from tracking.route import require_aware

MAX_TEXT = 200


def _check_text(field: str, value: str) -> None:
    if not value.strip() or len(value) > MAX_TEXT or not value.isprintable():
        raise InvalidInput(field, f"must be 1 to {MAX_TEXT} printable characters")


class Recipient(msgspec.Struct, frozen=True, gc=False, tag_field="form", tag="plain"):
    """Personal data: shown to agents, never on the public tracking view.
    Plain as it comes in; recorded sealed (``SealedRecipient``)."""

    name: str
    postcode: str
    country: CountryCode

    def __post_init__(self) -> None:
        if not validating():
            return
        _check_text("recipient.name", self.name)
        _check_text("recipient.postcode", self.postcode)


class Booking(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    carrier: str
    origin: Locode
    destination: Locode
    deliver_by: datetime | None = None
    recipient: Recipient | SealedRecipient | None = None
    account: str = DEFAULT_ACCOUNT  # the merchant account it belongs to

    def __post_init__(self) -> None:
        if not validating():
            return
        _check_text("carrier", self.carrier)
        check_account("account", self.account)
        if self.origin == self.destination:
            raise InvalidInput("destination", f"is the same as the origin ({self.origin})")
        if self.deliver_by is not None:
            require_aware("deliver_by", self.deliver_by)
        if self.recipient is not None and self.recipient.country != self.destination.country:
            raise InvalidInput(
                "recipient.country",
                f"{self.recipient.country} is not the destination's country "
                f"({self.destination.country})",
            )
