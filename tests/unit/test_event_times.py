"""Each recorded event says when what it records happened (``occurred_at``),
so no adapter has to decide it per event type: a scan when the scanner saw
it, a re-route when it took effect, a customs report when customs acted, a
retraction when it was declared, everything else when it was recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.http.schemas import history_entry
from tests.builders import AGENT, HK_STO, TN, TYO_HAM_STO, at, booking, declaration, line, scan
from tracking.cargo import CarriedLine
from tracking.carrier import CarrierNote, Estimate, EstimateUpdate, Retraction
from tracking.codes import ScanEvent
from tracking.customs import CustomsEntry, CustomsMark, CustomsStatus
from tracking.identifiers import CountryCode, Locode, TrackingNumber
from tracking.link import TrackingLink
from tracking.scan import Reported
from tracking.shipment import Shipment
from tracking.personal_data import Sealed
from tracking.subscription import Subscription

RAW = Reported("dcsa", "e-1", "ARRI", "EST")
NOW = at(20)


def every_kind_of_event() -> list[Any]:
    s = Shipment.open(TN, AGENT)
    s.book(booking(), HK_STO, AGENT)
    s.record_scan(scan("RECEIVED", "HKHKG", 2, 9), AGENT, now=NOW)
    s.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100"), AGENT, now=NOW)
    s.reroute(TYO_HAM_STO, None, at=at(11), source=AGENT)
    s.note_customs(CustomsMark(entry_id=uuid.uuid4(), entry_version=1, country=CountryCode("SE"),
                               status=CustomsStatus.LODGED, occurred_at=at(12, 5)), AGENT)
    s.subscribe(Subscription(email=Sealed(box=b"a sealed address"), language="sv",
                             subscribed_at=at(12)), AGENT)
    s.carry("PO-1", (CarriedLine(sku="TSHIRT-M", quantity=40, need_by=at(20)),), AGENT)
    s.record_update(EstimateUpdate(estimate_id="est-1", tracking_number=TN, reported=RAW,
                                   estimate=Estimate(event=ScanEvent.ARRIVED,
                                                     location=Locode("SESTO"),
                                                     expected_at=at(23))), AGENT, now=NOW)
    s.record_update(CarrierNote(note_id="n-1", tracking_number=TN, occurred_at=at(13, 7),
                                location=None, reported=RAW), AGENT, now=NOW)
    s.record_update(Retraction(retracted_id=s.scans[0].scan_id, tracking_number=TN,
                               declared_at=at(14, 2)), AGENT, now=NOW)
    # Silence is measured from when the last event was recorded (now).
    s.flag_stalled(now=datetime.now(UTC) + timedelta(days=3), threshold=timedelta(days=2),
                   source=AGENT)
    s.erase_personal_data("asked", at(15), AGENT)
    return list(s.collect_events())


def test_each_shipment_event_says_when_it_happened() -> None:
    events = every_kind_of_event()
    when = {type(e).__name__: e.occurred_at for e in events}
    recorded = {type(e).__name__: e.timestamp for e in events}
    assert when["ScanRecorded"] in (at(2, 9), at(3))
    assert when["Rerouted"] == at(11)
    assert when["CustomsUpdated"] == at(12, 5)
    assert when["CarrierEventNoted"] == at(13, 7)
    assert when["ScanRetracted"] == at(14, 2)
    for kind in ("Opened", "Booked", "NotificationSubscribed", "EstimateReceived", "CargoNotified",
                 "StallDetected", "PersonalDataErased"):
        assert when[kind] == recorded[kind], kind


def test_every_event_type_of_a_shipment_is_covered_and_agrees_with_the_history() -> None:
    events = every_kind_of_event()
    kinds = {type(e) for e in events}
    declared = {v for v in vars(Shipment).values() if isinstance(v, type)
                and issubclass(v, Shipment.Event) and v not in (Shipment.Event, Shipment.Created)}
    assert declared - kinds == {Shipment.RetractedEventRecorded}  # a ScanRetracted, as said
    for event in events:
        assert event.occurred_at == history_entry(event).occurred_at, type(event).__name__


def test_customs_entries_and_links_say_it_too() -> None:
    link = TrackingLink.link(TrackingNumber("JJD000390007"), TN, AGENT)
    [linked] = link.collect_events()
    assert linked.occurred_at == linked.timestamp
    entry = CustomsEntry.declare(declaration(), (), None, AGENT, at=at(12))
    entry.amend(declaration(line(quantity=3)), (), None, AGENT)
    entry.progress(CustomsStatus.LODGED, occurred_at=at(13), source=AGENT, now=NOW)
    declared, amended, lodged = entry.collect_events()
    assert declared.occurred_at == at(12)
    assert amended.occurred_at == amended.timestamp
    assert lodged.occurred_at == at(13)
