"""Identifier value types: tracking numbers, UN/LOCODEs, ISO country codes.

Each is a ``str`` that can only be built valid. Values read back from the
event store are rebuilt with ``trusted()``, which skips validation: what was
valid when it was recorded must stay loadable even if the rules tighten.
"""

from __future__ import annotations

import re
import uuid
from functools import lru_cache
from typing import Self

import pycountry

from tracking.errors import InvalidInput


class CheckedStr(str):
    """A string value type validated on construction."""

    __slots__ = ()

    @classmethod
    def trusted(cls, value: str) -> Self:
        """Rebuild a value that was validated before it was stored."""
        return str.__new__(cls, value)


@lru_cache(maxsize=512)
def is_iso_country(code: str) -> bool:
    """True for an ISO 3166-1 alpha-2 code, by pycountry's current list."""
    return len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None


_TRACKING_NUMBER = re.compile(r"[A-Z0-9]{6,40}")
_S10 = re.compile(r"[A-Z]{2}(\d{8})(\d)[A-Z]{2}")
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an 8-digit serial number."""
    total = sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


# Carriers print numbers in groups ("LX 123 456 785 CN", "JJD-0003-9000-7"),
# and copying from a label or a PDF brings no-break spaces and typographic dashes.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")


class TrackingNumber(CheckedStr):
    """6-40 characters of A-Z and 0-9, upper-cased on the way in, with the
    spaces and dashes carriers print between groups taken out. A number in
    UPU S10 form (LX123456785CN) must carry the right check digit.

    The one place a tracking number is parsed: every way one comes in (HTTP
    paths, query parameters and bodies, scans over HTTP and MQTT, carrier
    payloads and master data, customs entries, dead letters resubmitted
    from the command line) builds this, so ``LX 123 456 785 CN`` and ``lx-123-456-785-cn`` are the same
    shipment everywhere."""

    __slots__ = ()

    def __new__(cls, value: str, field: str = "tracking_number") -> Self:
        if not isinstance(value, str):
            raise InvalidInput(field, "must be a string")
        normal = _SEPARATORS.sub("", value).upper()
        if not _TRACKING_NUMBER.fullmatch(normal):
            raise InvalidInput(
                field, f"{value!r} is not 6 to 40 characters of A-Z and 0-9 "
                "(spaces and dashes between them are ignored)"
            )
        s10 = _S10.fullmatch(normal)
        if s10:
            expected = s10_check_digit(s10[1])
            if expected != int(s10[2]):
                raise InvalidInput(
                    field,
                    f"{normal} is a UPU S10 number whose check digit should be "
                    f"{expected}, not {s10[2]}",
                )
        return str.__new__(cls, normal)


_LOCODE = re.compile(r"([A-Z]{2})([A-Z2-9]{3})")


class Locode(CheckedStr):
    """A UN/LOCODE: an ISO 3166-1 country and three letters or digits 2-9
    (HKHKG, USNYC, SESTO)."""

    __slots__ = ()

    def __new__(cls, value: str, field: str = "location") -> Self:
        if not isinstance(value, str):
            raise InvalidInput(field, "must be a UN/LOCODE string such as 'SESTO'")
        normal = value.strip().upper()
        match = _LOCODE.fullmatch(normal)
        if not match:
            raise InvalidInput(
                field,
                f"{value!r} is not a UN/LOCODE (2-letter country and 3 letters "
                "or digits 2-9, such as 'SESTO')",
            )
        if not is_iso_country(match[1]):
            raise InvalidInput(field, f"{normal}: {match[1]} is not an ISO 3166-1 country code")
        return str.__new__(cls, normal)

    @property
    def country(self) -> str:
        return self[:2]


class CountryCode(CheckedStr):
    """An ISO 3166-1 alpha-2 country code (SE, CN, US)."""

    __slots__ = ()

    def __new__(cls, value: str, field: str = "country") -> Self:
        if not isinstance(value, str):
            raise InvalidInput(field, "must be an ISO 3166-1 alpha-2 code such as 'SE'")
        normal = value.strip().upper()
        if not is_iso_country(normal):
            raise InvalidInput(field, f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return str.__new__(cls, normal)


_SHIPMENT_NAMESPACE = uuid.UUID("5b0c1d6e-3c55-4d2e-9a53-2f1f0e4c7a10")


def shipment_id(tracking_number: str) -> uuid.UUID:
    """The aggregate id of the shipment with this tracking number: a name-based
    UUID, so every process finds the same shipment without an index."""
    return uuid.uuid5(_SHIPMENT_NAMESPACE, tracking_number)
