"""The purchase orders' wire formats: JSON bodies (msgspec Structs decoded
once) and the CSV of a bulk import, translated into the domain's values.

A CSV import has a header row naming its columns (any order, any case):
``po_number, supplier, warehouse, sku, quantity, need_by`` for an order's
line, and optionally ``tracking_number, shipped`` for what a shipment
carries of it. Each row stands alone: a bad one is refused with its row
number (the header is row 1, as a spreadsheet numbers it) and the field,
and the good ones are recorded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar.params import Parameter

from adapters.http.constraints import RequiredTime, value
from adapters.http.schemas import decode
from tracking.errors import InvalidInput
from tracking.identifiers import Locode, TrackingNumber
from tracking.order_line import (
    MAX_LINES,
    MAX_QUANTITY,
    CountedLine,
    OrderLine,
    ShippedLine,
    check_po_number,
    check_quantity,
    check_sku,
    check_supplier,
)
from tracking.route import require_aware

T = TypeVar("T")
LocodeText = value(Locode)
TrackingNumberText = value(TrackingNumber)
Sku = Annotated[str, Parameter(schema_extra={
    "pattern": "^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$", "examples": ["TSHIRT-M"]})]
PoNumber = Annotated[str, Parameter(schema_extra={
    "pattern": "^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$", "examples": ["PO-1"]})]
Quantity = Annotated[int, Parameter(schema_extra={"minimum": 1, "maximum": MAX_QUANTITY})]
Count = Annotated[int, Parameter(schema_extra={"minimum": 0, "maximum": MAX_QUANTITY})]
Supplier = Annotated[str, Parameter(schema_extra={"minLength": 1, "maxLength": 100})]
# A UN/LOCODE, or the name of one of the account's warehouses (POST /api/v1/warehouses).
WarehouseText = Annotated[str, Parameter(schema_extra={
    "minLength": 1, "maxLength": 64, "examples": ["DEHAM", "Hamburg DC"]})]
Resolve = Callable[[str, str], Locode]  # (warehouse text, field) -> its LOCODE
MAX_CSV_ROWS = 10_000


def _lines(item: Any) -> Any:
    return Annotated[list[item], Parameter(schema_extra={"minItems": 1, "maxItems": MAX_LINES})]


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: Sku
    quantity: Quantity
    need_by: RequiredTime


class PurchaseOrderIn(msgspec.Struct, forbid_unknown_fields=True):
    po_number: PoNumber
    supplier: Supplier
    warehouse: WarehouseText
    lines: _lines(OrderLineIn)  # type: ignore[valid-type]


class LinesIn(msgspec.Struct, forbid_unknown_fields=True):
    """The order's lines as they are to stand (an amendment)."""

    lines: _lines(OrderLineIn)  # type: ignore[valid-type]


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    """The lines to cancel; no ``skus``: the whole order."""

    skus: Annotated[list[Sku], Parameter(schema_extra={"maxItems": MAX_LINES})] | None = None


class ShippedLineIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: Sku
    quantity: Quantity


class NoticeIn(msgspec.Struct, forbid_unknown_fields=True):
    tracking_number: TrackingNumberText
    lines: _lines(ShippedLineIn)  # type: ignore[valid-type]


class CountedLineIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: Sku
    quantity: Count
    damaged: Count = 0


class ReceiptIn(msgspec.Struct, forbid_unknown_fields=True):
    tracking_number: TrackingNumberText
    lines: _lines(CountedLineIn)  # type: ignore[valid-type]
    received_at: RequiredTime


ORDER = msgspec.json.Decoder(PurchaseOrderIn)
LINES = msgspec.json.Decoder(LinesIn)
CANCEL = msgspec.json.Decoder(CancelIn)
NOTICE = msgspec.json.Decoder(NoticeIn)
RECEIPT = msgspec.json.Decoder(ReceiptIn)


def body(decoder: msgspec.json.Decoder[T], data: bytes) -> T:
    return decode(decoder, data)


def _time(field: str, at: datetime | None) -> datetime:
    if at is None:
        raise InvalidInput(field, "is required")
    require_aware(field, at)
    return at


def order_lines(lines: list[OrderLineIn]) -> list[OrderLine]:
    return [OrderLine(sku=check_sku(f"lines[{i}].sku", line.sku), quantity=line.quantity,
                      need_by=_time(f"lines[{i}].need_by", line.need_by))
            for i, line in enumerate(lines)]


def shipped_lines(lines: list[ShippedLineIn]) -> list[ShippedLine]:
    return [ShippedLine(sku=line.sku, quantity=line.quantity) for line in lines]


def counted_lines(lines: list[CountedLineIn]) -> list[CountedLine]:
    return [CountedLine(sku=line.sku, quantity=line.quantity, damaged=line.damaged)
            for line in lines]


def received_at(data: ReceiptIn) -> datetime:
    return _time("received_at", data.received_at)


# -- CSV ---------------------------------------------------------------------------

class Row(msgspec.Struct, kw_only=True):
    """One good row of an import."""

    row: int
    po_number: str
    supplier: str
    warehouse: Locode
    line: OrderLine
    tracking_number: TrackingNumber | None
    shipped: int | None


class Refused(msgspec.Struct, kw_only=True):
    row: int
    field: str
    detail: str


_COLUMNS = ("po_number", "supplier", "warehouse", "sku", "quantity", "need_by")
_OPTIONAL = ("tracking_number", "shipped")


def read_csv(data: bytes, warehouse: Resolve = Locode) -> tuple[list[Row], list[Refused]]:
    """The good rows and the refused ones (``warehouse``: the LOCODE a row's
    warehouse means, a LOCODE or a warehouse's name); InvalidInput for a
    file that has no usable header (nothing in it can be read)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("body", "a CSV import must be UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise InvalidInput("body", "a CSV import needs a header row naming its columns: "
                                   + ", ".join(_COLUMNS)) from None
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        raise InvalidInput("body", f"the header has no column {', '.join(missing)} "
                                   f"(it needs {', '.join(_COLUMNS)})")
    good: list[Row] = []
    refused: list[Refused] = []
    number = 1
    try:
        for cells in reader:
            number += 1
            if number > MAX_CSV_ROWS + 1:
                raise InvalidInput("body", f"at most {MAX_CSV_ROWS} rows in one import")
            if not any(c.strip() for c in cells):
                continue  # a blank line between blocks
            fields = dict(zip(header, (c.strip() for c in cells), strict=False))
            try:
                good.append(_row(number, fields, warehouse))
            except InvalidInput as e:
                refused.append(Refused(row=number, field=e.field, detail=e.reason))
    except csv.Error as e:
        refused.append(Refused(row=number, field="body", detail=f"not CSV: {e}"))
    if not good and not refused:
        raise InvalidInput("body", "the CSV import has a header and no rows")
    return good, refused


def _row(number: int, f: dict[str, str], warehouse: Resolve) -> Row:
    def need(name: str) -> str:
        found = f.get(name, "")
        if not found:
            raise InvalidInput(name, "is required")
        return found

    quantity = _int("quantity", need("quantity"))
    shipped = f.get("shipped", "")
    tn = f.get("tracking_number", "")
    if shipped and not tn:
        raise InvalidInput("tracking_number", "a shipped quantity needs the shipment's number")
    return Row(
        row=number,
        po_number=check_po_number("po_number", need("po_number")),
        supplier=check_supplier("supplier", need("supplier")),
        warehouse=warehouse(need("warehouse"), "warehouse"),
        line=OrderLine(sku=check_sku("sku", need("sku")),
                       quantity=check_quantity("quantity", quantity),
                       need_by=_csv_time("need_by", need("need_by"))),
        tracking_number=TrackingNumber(tn) if tn else None,
        shipped=check_quantity("shipped", _int("shipped", shipped)) if tn else None,
    )


def _int(field: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(field, f"{text!r} is not a whole number") from None


def _csv_time(field: str, text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, f"{text!r} is not an RFC 3339 time") from None
    require_aware(field, at)
    return at


def within(prefix: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except InvalidInput as e:
        raise e.within(prefix) from None
