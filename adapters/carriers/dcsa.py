"""DCSA Track & Trace v2 (ocean carriers): transport events (ARRI, DEPA) and
equipment events (LOAD, DISC, GTIN, GTOT, ...), as pushed to a subscription
callback (a JSON array of events, signed with ``Notification-Signature:
sha256=<hex HMAC of the body>``) or returned by ``GET /v2/events``.

ACT events are scans; PLN and EST events of a mapped code are estimates
(they move the ETA); shipment events and codes without an equivalent are
notes. The tracking number is the event's transport document reference
(TRD), else its carrier booking reference (BKG), else the container
(``equipmentReference``): book the shipment under the one the carrier uses.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from adapters.carriers.mapping import CodeClass, event_key, load
from adapters.carriers.translation import Refused, Translated, each_or_refused, scan_or_note
from adapters.wire import decode
from tracking.carrier import Estimate, EstimateUpdate
from tracking.errors import InvalidInput
from tracking.identifiers import Locode, TrackingNumber
from tracking.scan import Reported

FORMAT = "dcsa"
CODES = load(FORMAT)["codes"]
REFERENCE_ORDER = ("TRD", "BKG")


class DocumentReference(msgspec.Struct):
    documentReferenceType: str
    documentReferenceValue: str


class Location(msgspec.Struct):
    UNLocationCode: str | None = None
    locationName: str | None = None


class TransportCall(msgspec.Struct):
    UNLocationCode: str | None = None
    location: Location | None = None
    carrierExportVoyageNumber: str | None = None
    exportVoyageNumber: str | None = None
    carrierImportVoyageNumber: str | None = None
    importVoyageNumber: str | None = None


class Event(msgspec.Struct):
    eventID: str
    eventType: str
    eventClassifierCode: str
    eventDateTime: datetime
    eventCreatedDateTime: datetime | None = None
    transportEventTypeCode: str | None = None
    equipmentEventTypeCode: str | None = None
    shipmentEventTypeCode: str | None = None
    equipmentReference: str | None = None
    eventLocation: Location | None = None
    transportCall: TransportCall | None = None
    documentReferences: list[DocumentReference] = []
    changeRemark: str | None = None
    delayReasonCode: str | None = None


NOTIFICATION = msgspec.json.Decoder(list[Event])


def parse(body: bytes) -> list[Translated | Refused]:
    """A notification (or a page of ``GET /v2/events``). What does not decode
    as DCSA events is InvalidInput naming the field (``[1].eventDateTime``):
    nothing is recorded. An event that decodes but cannot be right (a
    location that is not a UN/LOCODE, no reference to a shipment) is refused
    alone, naming its field (``[2].transportCall.UNLocationCode``): a
    publisher resends a refused notification whole, and one such event
    must not hold back the others for ever."""
    return translate_all(decode_events(body))


def decode_events(body: bytes) -> list[Event]:
    return decode(NOTIFICATION, body)


def translate_all(events: list[Event]) -> list[Translated | Refused]:
    return each_or_refused("", events, lambda e: [translate(e)],
                           lambda e: event_key(FORMAT, e.eventID))


def translate(e: Event) -> Translated:
    tn = _tracking_number(e)
    code = e.transportEventTypeCode or e.equipmentEventTypeCode or e.shipmentEventTypeCode or ""
    remark = f": {e.changeRemark}" if e.changeRemark else ""
    delay = f" (delay {e.delayReasonCode})" if e.delayReasonCode else ""
    reported = Reported(FORMAT, e.eventID, code,
                        f"{e.eventClassifierCode} {e.eventType} event{delay}{remark}",
                        CODES.provenance)
    key = event_key(FORMAT, e.eventID)
    location = _location(e)
    voyage = _voyage(e.transportCall)
    if e.eventClassifierCode in ("PLN", "EST"):
        mapped = CODES.get(code)
        if mapped is not None and location is not None:
            estimate = Estimate(event=mapped.event, location=location,
                                expected_at=e.eventDateTime, voyage=voyage)
            return Translated(EstimateUpdate(estimate_id=key, tracking_number=tn,
                                             estimate=estimate, reported=reported),
                              CodeClass.ESTIMATE)
    elif e.eventClassifierCode != "ACT":
        raise InvalidInput("eventClassifierCode",
                           f"{e.eventClassifierCode!r} is not one of ACT, PLN, EST")
    # An actual event; or a plan we cannot place or have no code for (a note).
    return scan_or_note(CODES, key=key, reported=reported, tracking_number=tn,
                        occurred_at=e.eventDateTime, location=location, voyage=voyage)


def _tracking_number(e: Event) -> TrackingNumber:
    refs = {r.documentReferenceType: r.documentReferenceValue for r in e.documentReferences}
    for kind in REFERENCE_ORDER:
        if kind in refs:
            return TrackingNumber(refs[kind], "documentReferences")
    if e.equipmentReference:
        return TrackingNumber(e.equipmentReference, "equipmentReference")
    raise InvalidInput("documentReferences", "needs a TRD or BKG reference, or the event an "
                       "equipmentReference, to find the shipment")


def _location(e: Event) -> Locode | None:
    candidates = [
        ("eventLocation.UNLocationCode", e.eventLocation and e.eventLocation.UNLocationCode),
        ("transportCall.location.UNLocationCode",
         e.transportCall and e.transportCall.location and e.transportCall.location.UNLocationCode),
        ("transportCall.UNLocationCode", e.transportCall and e.transportCall.UNLocationCode),
    ]
    for field, value in candidates:
        if value:
            return Locode(value, field)
    return None


def _voyage(call: TransportCall | None) -> str | None:
    if call is None:
        return None
    return (call.carrierExportVoyageNumber or call.exportVoyageNumber
            or call.carrierImportVoyageNumber or call.importVoyageNumber)
