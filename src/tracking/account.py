"""Accounts: which merchant a shipment (and everything booked with it) belongs
to. A merchant token may name its account (``merchant:<token>:<account>``);
one that names none, and every other role's, acts for ``default``."""

from __future__ import annotations

import re

from tracking.errors import InvalidInput

DEFAULT_ACCOUNT = "default"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_account(field: str, name: str) -> str:
    """``name`` if it can be an account's name: 1 to 64 letters, digits,
    dots, dashes or underscores, starting with a letter or digit."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(field, "must be 1 to 64 letters, digits, '.', '-' or '_', "
                                  "starting with a letter or digit")
    return name
