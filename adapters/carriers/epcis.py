"""GS1 EPCIS 2.0 capture (JSON-LD ``EPCISDocument``): ObjectEvent,
AggregationEvent (and the object lists of the other event types) with
``bizStep``/``disposition`` mapped to our codes, object ids (SGTIN, SSCC)
and ``bizLocation``/``readPoint`` (SGLN) mapped to tracking numbers and
UN/LOCODEs through the configured master data.

An event with an ``errorDeclaration`` declares that event (same eventID)
an error: it becomes a retraction of what was recorded under that id, and
its corrective events, sent beside it, are recorded as any other. The
retraction carries the event as declared, so one whose original never
reached us is recorded, retracted from the start, rather than lost (GS1's
own example captures the event with its declaration). An event without an
eventID is known by the digest of its JSON.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec

from adapters.carriers.mapping import CodeClass, event_key, load
from adapters.carriers.masterdata import MasterData
from adapters.carriers.translation import (
    Refused,
    Translated,
    at_index,
    each_or_refused,
    scan_or_note,
)
from adapters.wire import decode
from tracking.carrier import Retraction
from tracking.errors import InvalidInput
from tracking.identifiers import Locode, TrackingNumber
from tracking.scan import Reported

FORMAT = "epcis"
_TABLES = load(FORMAT)
BIZ_STEPS, DISPOSITIONS = _TABLES["bizSteps"], _TABLES["dispositions"]
_PREFIXES = ("urn:epcglobal:cbv:bizstep:", "urn:epcglobal:cbv:disp:",
             "https://ref.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/Disp-")


class Ref(msgspec.Struct):
    id: str


class ErrorDeclaration(msgspec.Struct):
    declarationTime: datetime
    reason: str | None = None
    correctiveEventIDs: list[str] = []


class Event(msgspec.Struct):
    type: str
    eventTime: datetime
    eventID: str | None = None
    action: str | None = None
    bizStep: str | None = None
    disposition: str | None = None
    epcList: list[str] = []
    parentID: str | None = None
    childEPCs: list[str] = []
    inputEPCList: list[str] = []
    outputEPCList: list[str] = []
    readPoint: Ref | None = None
    bizLocation: Ref | None = None
    errorDeclaration: ErrorDeclaration | None = None


class Body(msgspec.Struct):
    eventList: list[Event]


class Document(msgspec.Struct):
    type: str
    epcisBody: Body


class _RawBody(msgspec.Struct):
    eventList: list[msgspec.Raw]


class _RawDocument(msgspec.Struct):
    epcisBody: _RawBody


DOCUMENT = msgspec.json.Decoder(Document)
_RAW = msgspec.json.Decoder(_RawDocument)


def parse(body: bytes, master: MasterData, *, proceed: bool = False) -> list[Translated | Refused]:
    """Every event of the document translated (one update per shipment it
    concerns). As EPCIS capture's ``GS1-Capture-Error-Behaviour`` says: by
    default (``rollback``) an event that cannot be right is InvalidInput
    naming its field (``epcisBody.eventList[1].readPoint.id``) and nothing
    is recorded; with ``proceed`` that event alone is refused."""
    document = decode(DOCUMENT, body)
    if document.type != "EPCISDocument":
        raise InvalidInput("type", f"{document.type!r}: expected an EPCISDocument")
    raws = decode(_RAW, body).epcisBody.eventList
    events = list(zip(document.epcisBody.eventList, map(bytes, raws), strict=True))

    def build(item: tuple[Event, bytes]) -> list[Translated]:
        return translate(*item, master)

    if proceed:
        return each_or_refused("epcisBody.eventList", events, build,
                               lambda item: event_key(FORMAT, _event_id(*item)))
    return [t for i, item in enumerate(events)
            for t in at_index("epcisBody.eventList", i, build, item)]


def _event_id(e: Event, raw: bytes) -> str:
    return e.eventID or "sha256:" + hashlib.sha256(raw).hexdigest()


def translate(e: Event, raw: bytes, master: MasterData) -> list[Translated]:
    event_id = _event_id(e, raw)
    key = event_key(FORMAT, event_id)
    numbers = _tracking_numbers(e, master)
    d = e.errorDeclaration
    # The event as said; declared an error, a place the master data does not
    # know makes it a note rather than refusing the declaration.
    location = _location(e, master) if d is None else _known_location(e, master)
    biz_step, disposition = _cbv(e.bizStep), _cbv(e.disposition)
    codes, code = (DISPOSITIONS, disposition) if disposition in DISPOSITIONS else (BIZ_STEPS, biz_step)
    text = ", ".join(f"{k} {v}" for k, v in (("type", e.type), ("action", e.action),
                     ("bizStep", biz_step), ("disposition", disposition)) if v)
    reported = Reported(FORMAT, event_id, code, text, codes.provenance)
    said = [scan_or_note(codes, key=key, reported=reported, tracking_number=tn,
                         occurred_at=e.eventTime, location=location)
            for tn in numbers]
    if d is None:
        return said
    corrected = tuple(event_key(FORMAT, c) for c in d.correctiveEventIDs)
    return [Translated(Retraction(retracted_id=key, tracking_number=t.update.tracking_number,
                                  declared_at=d.declarationTime, reason=d.reason,
                                  corrected_by=corrected, declared=t.update),  # type: ignore[arg-type]
                       CodeClass.RETRACTION)
            for t in said]


def _cbv(value: str | None) -> str:
    value = value or ""
    for prefix in _PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix):]
    return value


def _tracking_numbers(e: Event, master: MasterData) -> list[TrackingNumber]:
    ids = [*e.epcList, *([e.parentID] if e.parentID else []), *e.childEPCs,
           *e.inputEPCList, *e.outputEPCList]
    found = list(dict.fromkeys(master.objects[i] for i in ids if i in master.objects))
    if not found:
        field = {"AggregationEvent": "parentID", "TransformationEvent": "inputEPCList"}.get(
            e.type, "epcList")
        shown = ", ".join(ids[:3]) or "none"
        raise InvalidInput(field, f"none of the event's objects ({shown}) is a shipment in "
                           "the master data (TRACKING_CARRIER_MASTER_DATA, [epcis.objects])")
    return found


def _known_location(e: Event, master: MasterData) -> Locode | None:
    for ref in (e.bizLocation, e.readPoint):
        if ref is not None and ref.id in master.locations:
            return master.locations[ref.id]
    return None


def _location(e: Event, master: MasterData) -> Locode:
    known = _known_location(e, master)
    if known is not None:
        return known
    where = e.bizLocation or e.readPoint
    field = "bizLocation.id" if e.bizLocation else "readPoint.id"
    raise InvalidInput(field, f"{where.id if where else 'no location'} is not a location in the "
                       "master data (TRACKING_CARRIER_MASTER_DATA, [epcis.locations])")
