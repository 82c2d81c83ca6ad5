"""A changed code mapping is applied to what carriers already said by
recording corrections, never by editing: a code noted as unknown becomes a
scan, a wrong translation is corrected, each citing its mapping, every view
derives again, and running it twice changes nothing."""

from __future__ import annotations

from importlib import resources

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent

from adapters.carriers.mapping import parse
from adapters.carriers.remap import Mappings, corrected_key, corrections, remap
from adapters.carriers.translation import scan_or_note
from tests.builders import AGENT, HK_STO, TN, at, booking
from tracking.application import ShipmentService
from tracking.codes import ScanEvent, SourceKind, Status, TransportStatus
from tracking.explanation import explain
from tracking.identifiers import Locode
from tracking.mapper import StructMapper
from tracking.scan import Reported, Source
from tracking.shipment import Shipment

DCSA = Source(SourceKind.CARRIER, "dcsa")
SHIPPED = resources.files("adapters.carriers").joinpath("mappings", "dcsa.toml").read_text()


def dcsa(extra: str = "", text: str = SHIPPED) -> Mappings:
    """The shipped DCSA mapping with ``extra`` lines in its [codes] table."""
    return Mappings({"dcsa": parse("dcsa", text.replace("[codes]\n", f"[codes]\n{extra}\n"))})


def said(service: ShipmentService, mappings: Mappings, event_id: str, code: str,
         where: str = "HKHKG", day: int = 3, text: str = "ACT EQUIPMENT event") -> None:
    """The carrier says ``code`` at ``where``, translated under ``mappings``."""
    codes = mappings.tables["dcsa"]["codes"]
    t = scan_or_note(codes, key=f"dcsa:{event_id}", reported=Reported("dcsa", event_id, code, text),
                     tracking_number=TN, occurred_at=at(day), location=Locode(where),
                     voyage="V100")
    [outcome] = service.record_updates([t.update], DCSA)
    assert outcome.result == "recorded", outcome


@pytest.fixture
def service() -> ShipmentService:
    app = ShipmentService(clock=lambda: at(20))
    app.book(TN, booking(), HK_STO, AGENT)
    return app


def test_a_code_noted_as_unknown_becomes_a_scan_citing_the_new_mapping(service) -> None:
    old, new = dcsa(), dcsa('XRAY = "RECEIVED"')
    said(service, old, "e-1", "XRAY")
    assert service.delivery(TN).transport_status is TransportStatus.NOT_RECEIVED
    before = service.history(TN)

    [c] = remap(service, new)
    assert (c.was, c.now, c.refused) == ("a note", "RECEIVED", None)
    history = service.history(TN)
    assert history[:len(before)] == before  # nothing recorded is changed
    retraction, scan = history[len(before):]
    assert isinstance(retraction, Shipment.ScanRetracted) and retraction.retracted_id == "dcsa:e-1"
    assert retraction.corrected_by == (scan.scan.scan_id,)
    old_mapping = old.tables["dcsa"]["codes"].provenance
    new_mapping = new.tables["dcsa"]["codes"].provenance
    assert old_mapping in retraction.reason and new_mapping in retraction.reason
    assert scan.scan.event is ScanEvent.RECEIVED and scan.scan.reported.mapping == new_mapping
    assert service.delivery(TN).transport_status is TransportStatus.AT_FACILITY
    transport = {f.field: f for f in explain(service.history(TN)).fields}["transport_status"]
    assert [(b.version, b.mapping) for b in transport.because] == [
        (scan.originator_version, new_mapping)]


def test_a_wrong_mapping_is_corrected_and_a_second_run_changes_nothing(service) -> None:
    wrong = dcsa(text=SHIPPED.replace('DISC = "UNLOADED"', 'DISC = "LOADED"'))
    said(service, dcsa(), "e-1", "LOAD", day=3)
    said(service, wrong, "e-2", "DISC", where="USLAX", day=9)
    assert service.delivery(TN).transport_status is TransportStatus.ONBOARD

    assert [c.line().split(": ", 1)[1].split(" (")[0] for c in remap(service, dcsa())] == [
        "LOADED -> UNLOADED"]
    delivery = service.delivery(TN)
    assert delivery.transport_status is TransportStatus.AT_FACILITY
    assert delivery.last_location == "USLAX" and not delivery.misdirected
    versions = service.get(TN).version
    assert remap(service, dcsa()) == [] and service.get(TN).version == versions


def test_a_dry_run_records_nothing_and_a_source_filter_keeps_to_its_source(service) -> None:
    said(service, dcsa(), "e-1", "XRAY")
    version = service.get(TN).version
    assert [c.now for c in remap(service, dcsa('XRAY = "RECEIVED"'), dry_run=True)] == [
        "RECEIVED"]
    assert remap(service, dcsa('XRAY = "RECEIVED"'), source="parcel") == []
    assert service.get(TN).version == version


def test_a_scan_whose_code_now_has_no_equivalent_becomes_a_note(service) -> None:
    said(service, dcsa(), "e-1", "GTIN")
    [c] = remap(service, dcsa(text=SHIPPED.replace('GTIN = "RECEIVED"', 'GTIN = "-"')))
    assert (c.was, c.now) == ("RECEIVED", "a note")
    assert isinstance(service.history(TN)[-1], Shipment.CarrierEventNoted)
    assert service.delivery(TN).status is Status.INFO_RECEIVED


def test_a_plan_noted_is_left_alone_and_a_mapping_changed_back_is_corrected_again(
        service) -> None:
    said(service, dcsa(), "p-1", "XRAY", text="PLN TRANSPORT event")
    assert remap(service, dcsa('XRAY = "ARRIVED"')) == []  # it would be an estimate, not a scan
    said(service, dcsa(), "e-1", "GTIN")
    no = dcsa(text=SHIPPED.replace('GTIN = "RECEIVED"', 'GTIN = "-"'))
    assert [c.now for c in remap(service, no)] == ["a note"]
    assert [c.now for c in remap(service, dcsa())] == ["RECEIVED"]
    assert [c.now for c in remap(service, no)] == ["a note"]  # a new key each time
    assert service.delivery(TN).status is Status.INFO_RECEIVED


def test_a_corrected_key_fits_a_scan_id() -> None:
    assert corrected_key("dcsa:e-1", "dcsa.codes@abc") == "dcsa:e-1@abc"
    long = corrected_key("epcis:" + "x" * 90, "epcis.bizSteps@abcdef123456")
    assert long.startswith("epcis:remap:") and len(long) <= 100


def test_an_event_stored_before_mappings_were_named_still_loads_and_is_remapped(
        service) -> None:
    said(service, dcsa(), "e-1", "DISC", where="USLAX", day=9)
    mapper = StructMapper()
    [stored] = [mapper.to_stored_event(e) for e in service.history(TN)
                if isinstance(e, Shipment.ScanRecorded)]
    doc = msgspec.json.decode(stored.state)
    del doc["scan"]["reported"]["mapping"]  # as it was stored before
    old = mapper.to_domain_event(StoredEvent(stored.originator_id, stored.originator_version,
                                             stored.topic, msgspec.json.encode(doc)))
    assert old.scan.reported.mapping is None and old.scan.event is ScanEvent.UNLOADED
    wrong = dcsa(text=SHIPPED.replace('DISC = "UNLOADED"', 'DISC = "ARRIVED"'))
    [c] = corrections([*service.history(TN)[:-1], old], wrong, now=at(20))
    assert "under a mapping not recorded" in c.retraction.reason and c.now == "ARRIVED"
