"""Wire formats of the HTTP API, and their translation to domain values
(those MQTT and the carriers share too are in adapters/wire.py; the scan is
documented here with the constraints the domain enforces).

Requests are decoded with msgspec into these Structs (decoders made once);
``to_*`` functions turn them into domain values, which validate and name the
field that is wrong. Nothing here is stored: events hold domain values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from litestar.params import QueryParameter

from adapters import wire
from adapters.http.constraints import PRINTABLE, RequiredTime, choice, number, text, value
# Re-exported for the HTTP code, which names them from here.
from adapters.wire import NotJSON, decode, field_of, to_scan  # noqa: F401
from adapters.wire import one_of as _choice
from projections.views import ShipmentView
from tracking.application import ScanOutcome, ScanResult
from tracking.account import DEFAULT_ACCOUNT
from tracking.booking import MAX_TEXT, Booking, Recipient
from tracking.codes import ExceptionReason, ScanEvent, SourceKind, TransportMode
from tracking.errors import InvalidInput
from tracking.personal_data import OpenedRecipient
from tracking.exceptions import ExceptionKind
from tracking.identifiers import CountryCode, Locode, TrackingNumber
from tracking.route import MAX_VOYAGE_LENGTH, Leg, Route
from tracking.mapper import enc_hook
from tracking.scan import MAX_ID_LENGTH

T = TypeVar("T")

# Wire strings, documented as what the domain turns them into (constraints.py).
TrackingNumberText = value(TrackingNumber)
LocodeText = value(Locode)
CountryText = value(CountryCode)
Text = text(MAX_TEXT)
VoyageText = text(MAX_VOYAGE_LENGTH)
IdText = text(MAX_ID_LENGTH, PRINTABLE)
ModeText = choice(TransportMode)
ScanEventText = choice(ScanEvent)
ReasonText = choice(ExceptionReason)
Latitude = number(minimum=-90, maximum=90)
Longitude = number(minimum=-180, maximum=180)
ScanResultText = choice(ScanResult)
SourceKindText = choice(SourceKind)
ExceptionKindText = choice(ExceptionKind)

# Paging of every list endpoint, declared once: Litestar checks the bounds
# (400 naming the parameter) and the OpenAPI document states them. An offset
# past what anyone pages still fits the stores' 64-bit integers.
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="at most this many")]
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="skip this many first")]


class RecipientIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Text
    postcode: Text
    country: CountryText  # the destination's country


class LegIn(msgspec.Struct, forbid_unknown_fields=True):
    """One leg of a route."""

    required: ClassVar[tuple[str, ...]] = ("to", "departs_at", "arrives_at")
    voyage: VoyageText
    mode: ModeText
    from_: LocodeText = msgspec.field(name="from")
    to: LocodeText = ""
    departs_at: RequiredTime = None
    arrives_at: RequiredTime = None


class BookingIn(msgspec.Struct, forbid_unknown_fields=True):
    tracking_number: TrackingNumberText
    carrier: Text
    origin: LocodeText
    destination: LocodeText  # not the origin
    deliver_by: datetime | None = None
    recipient: RecipientIn | None = None
    route: list[LegIn] = []


class RouteIn(msgspec.Struct, forbid_unknown_fields=True):
    route: list[LegIn]
    destination: LocodeText | None = None


class ScanIn(wire.ScanIn):
    """One scan (adapters/wire.py), as the OpenAPI document states it."""

    scan_id: IdText  # the idempotency key
    tracking_number: TrackingNumberText
    event: ScanEventText
    location: LocodeText
    occurred_at: datetime
    device_id: IdText | None = None
    voyage: VoyageText | None = None
    reason: ReasonText | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    new_tracking_number: TrackingNumberText | None = None


class ScanBatchIn(msgspec.Struct):
    scans: list[ScanIn]


def _within(prefix: str, build: Callable[[], T]) -> T:
    try:
        return build()
    except InvalidInput as e:
        raise e.within(prefix) from None


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


def to_booking(body: BookingIn, account: str = DEFAULT_ACCOUNT) -> tuple[TrackingNumber, Booking, Route]:
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
        account=account,
    )
    return TrackingNumber(body.tracking_number), booking, to_route(body.route)


# -- responses ------------------------------------------------------------------


class ScanResultOut(msgspec.Struct, omit_defaults=True):
    """One scan's outcome; a rejected one names the ``field`` and says why."""

    scan_id: str
    tracking_number: str
    result: ScanResultText
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
    kind: SourceKindText
    id: str


class HistoryEntry(msgspec.Struct):
    version: int
    type: str
    occurred_at: datetime
    recorded_at: datetime
    source: SourceOut
    data: dict[str, Any]


def history_entry(event: Any) -> HistoryEntry:
    """An event as the history lists it, with the time it happened."""
    data = {k: v for k, v in vars(event).items()
            if k not in ("originator_id", "originator_version", "timestamp", "source",
                         "originator_topic")}
    source = event.source
    return HistoryEntry(
        version=event.originator_version,
        type=type(event).__name__,
        occurred_at=event.occurred_at,
        recorded_at=event.timestamp,
        source=SourceOut(kind=source.kind.value, id=source.id),
        data=msgspec.to_builtins(data, enc_hook=enc_hook),
    )


class ExceptionOut(msgspec.Struct):
    tracking_number: str
    kind: ExceptionKindText
    state: Literal["open", "closed"]
    raised_at: datetime
    cleared_at: datetime | None
    details: str


class DeadLetterOut(msgspec.Struct):
    """What arrived but could not be a scan, and why; once resubmitted, when
    and as which scan."""

    id: str
    received_at: datetime
    topic: str
    reason: str
    field: str | None
    payload: str  # as received (undecodable bytes backslash-escaped)
    resubmitted_at: datetime | None
    resubmitted_as: str | None


class ShipmentShown(ShipmentView, kw_only=True):
    """The agent's view as answered: the recipient opened, or erased."""

    recipient: OpenedRecipient | None  # type: ignore[assignment]


class ShipmentWritten(ShipmentShown, kw_only=True):
    """A booking's or re-route's answer: the agent's view, and the position
    of the write in the event log (read your writes), unless it changed nothing."""

    position: int | None = None


class ReadinessOut(msgspec.Struct, kw_only=True):
    """GET /readyz: what was checked and, when not ready, what failed."""

    status: Literal["ready", "not ready"]
    log_position: int | None = None
    view_position: int | None = None
    lag_events: int | None = None
    lag_seconds: float | None = None
    status_code: int | None = None
    detail: str | None = None
    failed: dict[str, str] | None = None


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
