"""A parcel carrier polled over HTTP, in the shape of DHL's Shipment
Tracking - Unified API: ``GET {base}/track/shipments?trackingNumber=N``
with header ``DHL-API-Key``, answering ``{"shipments": [{"id", "status",
"events": [{"timestamp", "location": {"address": {...}}, "statusCode",
"status", "description"}]}]}``.

Its events have no id: each is known by the digest of its tracking number,
time, status code and description. Its places are free text
(``addressLocality``) with a country code: they become UN/LOCODEs through
the master data, and an event at a place not configured is kept as a note.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from adapters.carriers.mapping import content_key, load
from adapters.carriers.masterdata import MasterData
from adapters.carriers.translation import Translated, at_index, scan_or_note
from adapters.wire import decode
from tracking.identifiers import TrackingNumber
from tracking.scan import Reported

FORMAT = "parcel"
CODES = load(FORMAT)["codes"]
DELIVERED = "delivered"


class Address(msgspec.Struct):
    countryCode: str | None = None
    postalCode: str | None = None
    addressLocality: str | None = None


class Place(msgspec.Struct):
    address: Address | None = None


class Event(msgspec.Struct):
    timestamp: datetime
    statusCode: str = "unknown"
    status: str | None = None
    description: str | None = None
    location: Place | None = None


class Shipment(msgspec.Struct):
    id: str
    status: Event | None = None
    events: list[Event] = []


class Response(msgspec.Struct):
    shipments: list[Shipment]


RESPONSE = msgspec.json.Decoder(Response)


def parse(body: bytes, tn: TrackingNumber, master: MasterData) -> tuple[bool, list[Translated]]:
    """Whether the carrier says the shipment is delivered, and its events
    for ``tn`` translated."""
    response = decode(RESPONSE, body)
    translated: list[Translated] = []
    delivered = False
    for i, shipment in enumerate(response.shipments):
        if shipment.id.strip().upper() != tn:
            continue
        delivered |= shipment.status is not None and shipment.status.statusCode == DELIVERED
        translated += [at_index(f"shipments[{i}].events", j, translate, e, tn, master)
                       for j, e in enumerate(shipment.events)]
    return delivered, translated


def translate(e: Event, tn: TrackingNumber, master: MasterData) -> Translated:
    key = content_key(FORMAT, tn, e.timestamp.isoformat(), e.statusCode, e.description)
    text = " - ".join(t for t in (e.status, e.description) if t)
    address = e.location.address if e.location else None
    city = (address.addressLocality or "").split(",")[0].split(" - ")[0] if address else None
    location = master.place(address.countryCode if address else None, city)
    return scan_or_note(CODES, key=key, reported=Reported(FORMAT, key, e.statusCode, text or None,
                                                         CODES.provenance),
                        tracking_number=tn, occurred_at=e.timestamp, location=location)
