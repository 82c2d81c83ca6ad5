"""Wire formats every ingress shares (HTTP, MQTT, the carriers' formats),
and their translation to domain values.

Messages are decoded with msgspec into these Structs (decoders made once);
``to_*`` functions turn them into domain values, which validate and name the
field that is wrong. Nothing here is stored: events hold domain values. The
HTTP API documents the same Structs with the domain's constraints
(adapters/http/schemas.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import msgspec

from tracking.codes import ExceptionReason, ScanEvent
from tracking.errors import InvalidInput
from tracking.identifiers import Locode, TrackingNumber
from tracking.scan import Scan

T = TypeVar("T")


class ScanIn(msgspec.Struct):
    """One scan. An EXCEPTION needs a ``reason``; ``lat`` and ``lon`` go
    together; only a HANDED_OVER scan carries a ``new_tracking_number``."""

    scan_id: str  # the idempotency key
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


class NotJSON(ValueError):
    """The body could not be parsed as JSON at all."""


def decode(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """Decode a message; what is wrong is named (NotJSON for what is not
    JSON at all, InvalidInput naming the field otherwise)."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as e:
        raise InvalidInput(field_of(str(e)), str(e).split(" - at ")[0]) from None
    except msgspec.DecodeError as e:
        raise NotJSON(f"the request body is not valid JSON: {e}") from None


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


def one_of(field: str, value: str, kind: type[Any]) -> Any:
    """``kind(value)``, or an InvalidInput listing the options."""
    try:
        return kind(value)
    except ValueError:
        options = ", ".join(m.value for m in kind)
        raise InvalidInput(field, f"{value!r} is not one of {options}") from None


def to_scan(body: ScanIn) -> Scan:
    return Scan(
        scan_id=body.scan_id,
        tracking_number=TrackingNumber(body.tracking_number),
        event=one_of("event", body.event, ScanEvent),
        location=Locode(body.location),
        occurred_at=body.occurred_at,
        device_id=body.device_id,
        voyage=body.voyage,
        reason=one_of("reason", body.reason, ExceptionReason) if body.reason else None,
        lat=body.lat,
        lon=body.lon,
        new_tracking_number=(
            TrackingNumber(body.new_tracking_number, "new_tracking_number")
            if body.new_tracking_number
            else None
        ),
    )


SCAN = msgspec.json.Decoder(ScanIn)
