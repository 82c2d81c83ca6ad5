"""Wire formats of the HTTP API, and their translation to domain values.

Requests are decoded with msgspec into these Structs (decoders made once);
``to_*`` functions turn them into domain values, which validate and name the
field that is wrong. Nothing here is stored: events hold domain values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar.params import QueryParameter

from tracking.application import ScanOutcome, ScanResult
from tracking.booking import Booking, Recipient
from tracking.codes import ExceptionReason, ScanEvent, TransportMode
from tracking.errors import InvalidInput
from tracking.identifiers import CountryCode, Locode, TrackingNumber
from tracking.route import Leg, Route
from tracking.scan import Scan

T = TypeVar("T")

# Paging of every list endpoint, declared once: Litestar checks the bounds
# (400 naming the parameter) and the OpenAPI document states them. An offset
# past what anyone pages still fits the stores' 64-bit integers.
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="at most this many")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="skip this many first")]


class RecipientIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    postcode: str
    country: str


class LegIn(msgspec.Struct, forbid_unknown_fields=True):
    voyage: str
    mode: str
    from_: str = msgspec.field(name="from")
    to: str = ""
    departs_at: datetime | None = None
    arrives_at: datetime | None = None


class BookingIn(msgspec.Struct, forbid_unknown_fields=True):
    tracking_number: str
    carrier: str
    origin: str
    destination: str
    deliver_by: datetime | None = None
    recipient: RecipientIn | None = None
    route: list[LegIn] = []


class RouteIn(msgspec.Struct, forbid_unknown_fields=True):
    route: list[LegIn]
    destination: str | None = None


class ScanIn(msgspec.Struct):
    scan_id: str
    tracking_number: str
    event: str
    location: str
    occurred_at: datetime
    device_id: str | None = None
    voyage: str | None = None
    reason: str | None = None
    lat: float | None = None
    lon: float | None = None
    new_tracking_number: str | None = None


class ScanBatchIn(msgspec.Struct):
    scans: list[ScanIn]


def decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decode a request body; what is wrong is named (a 400 for what is not
    JSON at all, a 422 naming the field otherwise)."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as e:
        raise InvalidInput(field_of(str(e)), str(e).split(" - at ")[0]) from None
    except msgspec.DecodeError as e:
        raise NotJSON(f"the request body is not valid JSON: {e}") from None


class NotJSON(ValueError):
    """The body could not be parsed as JSON at all."""


def field_of(message: str) -> str:
    """The field a msgspec error is about: "... - at `$.route[0].to`" and
    "Object missing required field `to` - at `$.route[0]`"."""
    where = ""
    if " - at `$" in message:
        message, where = message.rsplit(" - at `$", 1)
        where = where.rstrip("`").lstrip(".")
    if "required field `" in message:
        name = message.split("required field `", 1)[1].split("`", 1)[0]
        where = f"{where}.{name}" if where else name
    return where or "body"


def _within(prefix: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except InvalidInput as e:
        raise e.within(prefix) from None


def _choice(field: str, value: str, kind: type[Any]) -> Any:
    try:
        return kind(value)
    except ValueError:
        options = ", ".join(m.value for m in kind)
        raise InvalidInput(field, f"{value!r} is not one of {options}") from None


def _required(field: str, value: T | None) -> T:
    if value is None or value == "":
        raise InvalidInput(field, "is required")
    return value


def to_leg(leg: LegIn) -> Leg:
    return Leg(
        voyage=leg.voyage,
        mode=_choice("mode", leg.mode, TransportMode),
        from_=Locode(leg.from_, "from"),
        to=Locode(_required("to", leg.to), "to"),
        departs_at=_required("departs_at", leg.departs_at),
        arrives_at=_required("arrives_at", leg.arrives_at),
    )


def to_route(legs: list[LegIn]) -> Route:
    return Route(tuple(_within(f"route[{i}]", lambda leg=leg: to_leg(leg)) for i, leg in enumerate(legs)))


def to_booking(body: BookingIn) -> tuple[TrackingNumber, Booking, Route]:
    recipient = None
    if body.recipient is not None:
        r = body.recipient
        recipient = Recipient(r.name, r.postcode, CountryCode(r.country, "recipient.country"))
    booking = Booking(
        carrier=body.carrier,
        origin=Locode(body.origin, "origin"),
        destination=Locode(body.destination, "destination"),
        deliver_by=body.deliver_by,
        recipient=recipient,
    )
    return TrackingNumber(body.tracking_number), booking, to_route(body.route)


def to_scan(body: ScanIn) -> Scan:
    return Scan(
        scan_id=body.scan_id,
        tracking_number=TrackingNumber(body.tracking_number),
        event=_choice("event", body.event, ScanEvent),
        location=Locode(body.location),
        occurred_at=body.occurred_at,
        device_id=body.device_id,
        voyage=body.voyage,
        reason=_choice("reason", body.reason, ExceptionReason) if body.reason else None,
        lat=body.lat,
        lon=body.lon,
        new_tracking_number=(
            TrackingNumber(body.new_tracking_number, "new_tracking_number")
            if body.new_tracking_number
            else None
        ),
    )


# -- responses ------------------------------------------------------------------


class ScanResultOut(msgspec.Struct, omit_defaults=True):
    scan_id: str
    tracking_number: str
    result: str
    duplicate: bool
    booked: bool
    position: int | None = None
    field: str | None = None
    detail: str | None = None


def scan_result_out(outcome: ScanOutcome) -> ScanResultOut:
    return ScanResultOut(
        scan_id=outcome.scan_id,
        tracking_number=outcome.tracking_number,
        result=outcome.result.value,
        duplicate=outcome.duplicate,
        booked=outcome.booked,
        position=outcome.position,
        field=outcome.field,
        detail=outcome.reason,
    )


class ScanBatchOut(msgspec.Struct):
    results: list[ScanResultOut]
    recorded: int
    duplicates: int
    rejected: int
    position: int | None


def batch_out(results: list[ScanResultOut]) -> ScanBatchOut:
    """The answer to a batch: each item's outcome, the counts, the last position."""
    positions = [r.position for r in results if r.position is not None]
    return ScanBatchOut(
        results=results,
        recorded=sum(r.result == ScanResult.RECORDED.value for r in results),
        duplicates=sum(r.duplicate for r in results),
        rejected=sum(r.result == ScanResult.REJECTED.value for r in results),
        position=max(positions, default=None),
    )


class SourceOut(msgspec.Struct):
    kind: str
    id: str


class HistoryEntry(msgspec.Struct):
    version: int
    type: str
    occurred_at: datetime
    recorded_at: datetime
    source: SourceOut
    data: dict[str, Any]


class ExceptionOut(msgspec.Struct):
    tracking_number: str
    kind: str
    state: Literal["open", "closed"]
    raised_at: datetime
    cleared_at: datetime | None
    details: str


class ErrorOut(msgspec.Struct, omit_defaults=True):
    status_code: int
    detail: str
    field: str | None = None


BOOKING = msgspec.json.Decoder(BookingIn)
ROUTE = msgspec.json.Decoder(RouteIn)
SCAN = msgspec.json.Decoder(ScanIn)
SCAN_BATCH = msgspec.json.Decoder(ScanBatchIn)
_ENVELOPE = msgspec.json.Decoder(dict[str, msgspec.Raw])


def decode_scans(body: bytes) -> tuple[list[ScanIn], bool]:
    """One scan, or ``{"scans": [...]}``; and whether it was a batch."""
    envelope = decode(_ENVELOPE, body)
    if "scans" in envelope:
        return decode(SCAN_BATCH, body).scans, True
    return [decode(SCAN, body)], False
