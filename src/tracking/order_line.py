"""The lines of a purchase order and what is counted against them: order
lines, what a shipment carries of a SKU (a notice's line), what was counted
in (a receipt's line), the findings; and the checks of their fields, each
naming the field that is wrong."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

import msgspec

from tracking.errors import InvalidInput
from tracking.route import require_aware

MAX_LINES = 500
MAX_QUANTITY = 10_000_000
MAX_TEXT = 100
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}")
_PO_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}")


def check_po_number(field: str, text: str) -> str:
    if not _PO_NUMBER.fullmatch(text):
        raise InvalidInput(field, "must be 1 to 64 letters, digits, '.', '_', '/' or '-', "
                                  "starting with a letter or digit")
    return text


def check_sku(field: str, text: str) -> str:
    if not _SKU.fullmatch(text):
        raise InvalidInput(field, "must be 1 to 64 letters, digits, '.', '_', '/' or '-', "
                                  "starting with a letter or digit")
    return text


def check_supplier(field: str, text: str) -> str:
    flat = " ".join(text.split())
    if not flat or len(flat) > MAX_TEXT or not flat.isprintable():
        raise InvalidInput(field, f"must be 1 to {MAX_TEXT} printable characters")
    return flat


def check_quantity(field: str, quantity: int, *, zero: bool = False) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput(field, "must be a whole number")
    if quantity < (0 if zero else 1) or quantity > MAX_QUANTITY:
        low = 0 if zero else 1
        raise InvalidInput(field, f"must be a whole number from {low} to {MAX_QUANTITY}")
    return quantity


class OrderLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    sku: str
    quantity: int
    need_by: datetime
    cancelled: bool = False


class ShippedLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What one shipment carries of one SKU of the order."""

    sku: str
    quantity: int


class CountedLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What was counted in of one SKU from one shipment; ``damaged`` of
    ``quantity`` arrived unusable."""

    sku: str
    quantity: int
    damaged: int = 0


class FindingKind(StrEnum):
    OVER_SHIPPED = "OVER_SHIPPED"  # notified more than ordered (and not cancelled)
    SHORT = "SHORT"  # counted fewer than the shipment was notified to carry
    OVER = "OVER"  # counted more
    DAMAGED = "DAMAGED"


class Finding(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    kind: FindingKind
    sku: str
    tracking_number: str
    quantity: int  # how many: over, short, damaged
    detail: str


def check_lines(lines: list[OrderLine]) -> tuple[OrderLine, ...]:
    if not lines:
        raise InvalidInput("lines", "an order needs at least one line")
    if len(lines) > MAX_LINES:
        raise InvalidInput("lines", f"at most {MAX_LINES} lines")
    seen: set[str] = set()
    for i, line in enumerate(lines):
        check_sku(f"lines[{i}].sku", line.sku)
        check_quantity(f"lines[{i}].quantity", line.quantity)
        require_aware(f"lines[{i}].need_by", line.need_by)
        if line.sku in seen:
            raise InvalidInput(f"lines[{i}].sku", f"{line.sku} is on the order twice")
        seen.add(line.sku)
    return tuple(lines)
