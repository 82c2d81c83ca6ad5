"""What a merchant declares to customs for one shipment: the goods, line by
line, and who imports them on what terms.

Each value validates on construction and names the field that is wrong:
what cannot be right (a malformed HS code, a currency that is not ISO 4217,
a quantity that is not positive) is refused here; what is well-formed but
raises concerns is for the compliance check (``compliance.py``) to report.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Self

import msgspec
import pycountry

from tracking.errors import InvalidInput
from tracking.identifiers import CheckedStr, CountryCode, TrackingNumber
from tracking.validation import validating

MAX_DESCRIPTION = 512
MAX_LINES = 999  # the most lines an EU customs declaration (H7/H1) holds


class Incoterm(StrEnum):
    """Who pays duties and taxes at import: the seller (DDP) or the recipient.
    DDU left the Incoterms in 2010 but is still sent; it means what DAP means."""

    DDP = "DDP"
    DAP = "DAP"
    DDU = "DDU"

    @property
    def seller_pays(self) -> bool:
        return self is Incoterm.DDP


@lru_cache(maxsize=256)
def is_iso_currency(code: str) -> bool:
    return len(code) == 3 and pycountry.currencies.get(alpha_3=code) is not None


class CurrencyCode(CheckedStr):
    """An ISO 4217 currency code (EUR, USD, SEK), by pycountry's list."""

    __slots__ = ()

    def __new__(cls, value: str, field: str = "currency") -> Self:
        if not isinstance(value, str):
            raise InvalidInput(field, "must be an ISO 4217 code such as 'EUR'")
        normal = value.strip().upper()
        if not is_iso_currency(normal):
            raise InvalidInput(field, f"{value!r} is not an ISO 4217 currency code")
        return str.__new__(cls, normal)


# Chapters 01-97 exist, but for 77 (reserved for future use).
_HS_CODE = re.compile(r"\d{6}|\d{8,10}")


class HsCode(CheckedStr):
    """A Harmonized System code: an HS-6 subheading, or a national tariff line
    of 8 to 10 digits that starts with one, in a chapter that exists."""

    __slots__ = ()

    def __new__(cls, value: str, field: str = "hs_code") -> Self:
        if not isinstance(value, str):
            raise InvalidInput(field, "must be a string of digits such as '610910'")
        normal = value.strip().replace(".", "").replace(" ", "")
        if not _HS_CODE.fullmatch(normal):
            raise InvalidInput(
                field, f"{value!r} is not an HS code (6 digits, or a national code of 8 to 10)"
            )
        chapter = int(normal[:2])
        if not 1 <= chapter <= 97 or chapter == 77:
            raise InvalidInput(
                field, f"{value!r}: chapter {normal[:2]} does not exist (chapters are 01-97, not 77)"
            )
        return str.__new__(cls, normal)

    @property
    def chapter(self) -> str:
        return self[:2]

    @property
    def subheading(self) -> str:
        """The internationally agreed HS-6 part."""
        return self[:6]


_IOSS = re.compile(r"IM\d{10}")
_EORI = re.compile(r"[A-Z]{2}[A-Z0-9]{1,15}")


def _positive(field: str, value: Decimal) -> Decimal:
    try:
        ok = value.is_finite() and value > 0
    except InvalidOperation:
        ok = False
    if not ok:
        raise InvalidInput(field, f"{value} is not a positive amount")
    return value


class DeclarationLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    description: str
    hs_code: HsCode
    quantity: int
    unit_value: Decimal
    origin_country: CountryCode

    def __post_init__(self) -> None:
        if not validating():
            return
        text = self.description.strip()
        if not text or len(self.description) > MAX_DESCRIPTION or not self.description.isprintable():
            raise InvalidInput(
                "description", f"must be 1 to {MAX_DESCRIPTION} printable characters"
            )
        if isinstance(self.quantity, bool) or self.quantity <= 0:
            raise InvalidInput("quantity", f"{self.quantity} is not a positive whole number")
        _positive("unit_value", self.unit_value)

    @property
    def value(self) -> Decimal:
        return self.unit_value * self.quantity


class Declaration(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One customs declaration. ``currency`` is the currency of every amount
    of the entry: the goods' values, the estimate and what customs assessed."""

    tracking_number: TrackingNumber
    destination_country: CountryCode
    incoterm: Incoterm
    currency: CurrencyCode
    lines: tuple[DeclarationLine, ...]
    importer_ioss: str | None = None
    importer_eori: str | None = None

    def __post_init__(self) -> None:
        if not validating():
            return
        if not self.lines:
            raise InvalidInput("lines", "a declaration needs at least one line of goods")
        if len(self.lines) > MAX_LINES:
            raise InvalidInput("lines", f"{len(self.lines)} lines; at most {MAX_LINES}")
        if self.importer_ioss is not None and not _IOSS.fullmatch(self.importer_ioss):
            raise InvalidInput(
                "importer_ioss",
                f"{self.importer_ioss!r} is not an IOSS number ('IM' and 10 digits)",
            )
        if self.importer_eori is not None and not _EORI.fullmatch(self.importer_eori):
            raise InvalidInput(
                "importer_eori",
                f"{self.importer_eori!r} is not an EORI number (a country code and up to 15 "
                "letters or digits)",
            )

    @property
    def value(self) -> Decimal:
        """The intrinsic value of the consignment: the goods, without transport."""
        return sum((line.value for line in self.lines), Decimal(0))


def parse_amount(field: str, text: str) -> Decimal:
    """A money amount sent as a decimal string ("12.50")."""
    try:
        amount = Decimal(text)
    except (InvalidOperation, TypeError):
        raise InvalidInput(field, f"{text!r} is not a decimal amount such as '12.50'") from None
    if not amount.is_finite():
        raise InvalidInput(field, f"{text!r} is not a decimal amount such as '12.50'")
    return amount
