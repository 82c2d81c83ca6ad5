"""A scan: one thing a scanner or carrier saw happen to a parcel, and who
told us about it.

Value structs here and in route, booking and delivery are ``gc=False``: they
hold only immutable values, never cycles, and a cache of shipments holds
hundreds of thousands of them, which the cycle collector would otherwise
walk again and again."""

from __future__ import annotations

import functools
from datetime import datetime

import msgspec

from tracking.codes import ExceptionReason, ScanEvent, SourceKind
from tracking.errors import InvalidInput
from tracking.validation import validating
from tracking.identifiers import Locode, TrackingNumber
from tracking.limits import check_length
from tracking.route import check_voyage, require_aware

MAX_ID_LENGTH = 100


def _check_id(field: str, value: str) -> None:
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidInput(field, f"must be 1 to {MAX_ID_LENGTH} printable characters")


class Source(msgspec.Struct, frozen=True, gc=False):
    """Who reported an event: a scanner (its device id), a carrier (its
    name), an agent (their token's role or name) or the system itself."""

    kind: SourceKind
    id: str

    def __post_init__(self) -> None:
        if not validating():
            return
        _check_id("source.id", self.id)


SYSTEM = Source(SourceKind.SYSTEM, "tracking")


class Reported(msgspec.Struct, frozen=True, gc=False):
    """What a carrier said, word for word, beside what we made of it: the
    source format (dcsa, epcis, parcel, aggregator), its own event id, its
    code and its text. Kept so an agent sees exactly what the carrier said.

    ``mapping`` names the code mapping that translated it (``dcsa.codes@``
    and the digest of the mapping file): None when it was recorded before
    translations named their mapping. ``tracking remap`` reads it."""

    format: str
    event_id: str
    code: str
    text: str | None = None
    mapping: str | None = None

    def __post_init__(self) -> None:
        if not validating():
            return
        check_length("code", self.code)
        check_length("text", self.text)


class Scan(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What happened, where and when. ``scan_id`` is the idempotency key."""

    scan_id: str
    tracking_number: TrackingNumber
    event: ScanEvent
    location: Locode
    occurred_at: datetime
    device_id: str | None = None
    voyage: str | None = None
    reason: ExceptionReason | None = None
    lat: float | None = None
    lon: float | None = None
    new_tracking_number: TrackingNumber | None = None
    # Set for scans translated from a carrier's own format.
    reported: Reported | None = None

    def __post_init__(self) -> None:
        if not validating():
            return
        _check_id("scan_id", self.scan_id)
        if self.device_id is not None:
            _check_id("device_id", self.device_id)
        require_aware("occurred_at", self.occurred_at)
        if self.voyage is not None:
            check_voyage("voyage", self.voyage)
        if self.event is ScanEvent.EXCEPTION and self.reason is None:
            raise InvalidInput("reason", "an EXCEPTION scan needs a reason")
        if (self.lat is None) != (self.lon is None):
            raise InvalidInput("lat" if self.lat is None else "lon", "lat and lon go together")
        if self.lat is not None and not -90.0 <= self.lat <= 90.0:
            raise InvalidInput("lat", f"{self.lat} is not between -90 and 90")
        if self.lon is not None and not -180.0 <= self.lon <= 180.0:
            raise InvalidInput("lon", f"{self.lon} is not between -180 and 180")
        if self.new_tracking_number is not None and self.event is not ScanEvent.HANDED_OVER:
            raise InvalidInput("new_tracking_number", "only a HANDED_OVER scan carries one")

    @property
    def source(self) -> Source:
        """The source a scan reports when its sender names no other."""
        return Source(SourceKind.SCANNER, self.device_id or "unknown-device")


_DESCRIPTIONS = {
    ScanEvent.RECEIVED: "Received into the network at {location}",
    ScanEvent.LOADED: "Loaded{on} at {location}",
    ScanEvent.DEPARTED: "Departed {location}{by}",
    ScanEvent.ARRIVED: "Arrived at {location}{by}",
    ScanEvent.UNLOADED: "Unloaded{off} at {location}",
    ScanEvent.HANDED_OVER: "Handed over to another carrier at {location}",
    ScanEvent.OUT_FOR_DELIVERY: "Out for delivery from {location}",
    ScanEvent.DELIVERY_ATTEMPTED: "Delivery attempted at {location}{why}",
    ScanEvent.READY_FOR_PICKUP: "Ready for pickup at {location}",
    ScanEvent.DELIVERED: "Delivered at {location}",
    ScanEvent.RETURNED_TO_SENDER: "Returning to sender from {location}",
    ScanEvent.EXCEPTION: "Exception at {location}{why}",
}


def describe(scan: Scan) -> str:
    """A sentence a customer understands, the same in every view."""
    return _described(scan.event, scan.location, scan.voyage, scan.reason)


# Bounded: the views describe every event of a shipment again at each of its scans.
@functools.lru_cache(maxsize=8192)
def _described(event: ScanEvent, location: Locode, voyage: str | None,
               reason: ExceptionReason | None) -> str:
    reason_text = reason.value.replace("_", " ").lower() if reason else None
    return _DESCRIPTIONS[event].format(
        location=location,
        on=f" onto {voyage}" if voyage else "",
        off=f" from {voyage}" if voyage else "",
        by=f" on {voyage}" if voyage else "",
        why=f": {reason_text}" if reason_text else "",
    )
