"""Carrier updates on a shipment: estimates move the ETA, notes change
nothing derived, retractions take a scan out of what is derived but not out
of the history, and each is recorded once by its source's id."""

from __future__ import annotations

import pytest

from tests.builders import AGENT, HK_STO, TN, at, booking, scan
from tracking.carrier import CarrierNote, Estimate, EstimateUpdate, Retraction
from tracking.codes import ScanEvent, Status
from tracking.errors import InvalidInput
from tracking.identifiers import Locode
from tracking.mapper import StructMapper
from tracking.scan import Reported
from tracking.shipment import Shipment

RAW = Reported("dcsa", "e-1", "ARRI", "EST")


def booked() -> Shipment:
    s = Shipment.open(TN, AGENT)
    s.book(booking(), HK_STO, AGENT)
    return s


def estimate(where: str, day: int, key: str = "est-1", event: str = "ARRIVED") -> EstimateUpdate:
    return EstimateUpdate(
        estimate_id=key, tracking_number=TN, reported=RAW,
        estimate=Estimate(event=ScanEvent(event), location=Locode(where), expected_at=at(day)),
    )


def test_an_arrival_estimate_at_the_last_port_is_the_eta_until_the_arrival_is_scanned() -> None:
    s = booked()
    assert s.delivery().eta == at(15)  # the last leg's planned arrival
    assert s.record_estimate(estimate("SESTO", 17), AGENT)
    assert s.delivery().eta == at(17)
    assert s.record_estimate(estimate("SESTO", 16, key="est-2"), AGENT)
    assert s.delivery().eta == at(16)  # the latest estimate wins
    s.record_scan(scan("UNLOADED", "SESTO", 16, 6, voyage="A300"), AGENT, now=at(20))
    assert s.delivery().eta == at(16, 6)  # the actual arrival


def test_an_estimate_elsewhere_or_of_a_departure_leaves_the_eta_alone() -> None:
    s = booked()
    s.record_estimate(estimate("USLAX", 12), AGENT)
    s.record_estimate(estimate("SESTO", 19, key="est-2", event="DEPARTED"), AGENT)
    assert s.delivery().eta == at(15)


def test_the_same_estimate_twice_is_recorded_once() -> None:
    s = booked()
    assert s.record_estimate(estimate("SESTO", 17), AGENT)
    assert not s.record_estimate(estimate("SESTO", 18), AGENT)
    assert s.delivery().eta == at(17)


def test_a_note_changes_nothing_derived_and_is_recorded_once() -> None:
    s = booked()
    before = s.delivery()
    note = CarrierNote(note_id="n-1", tracking_number=TN, occurred_at=at(4),
                       reported=Reported("dcsa", "x", "STUF"))
    assert s.note_carrier_event(note, AGENT)
    assert not s.note_carrier_event(note, AGENT)
    assert s.delivery() == before


def test_a_retracted_scan_is_no_longer_derived_from_and_cannot_come_back() -> None:
    s = booked()
    delivered = scan("DELIVERED", "SESTO", 15, scan_id="wrong")
    s.record_scan(delivered, AGENT, now=at(20))
    assert s.delivery().status is Status.DELIVERED
    retraction = Retraction(retracted_id="wrong", tracking_number=TN, declared_at=at(16),
                            reason="incorrect_data")
    assert s.retract(retraction, AGENT)
    assert s.delivery().status is Status.INFO_RECEIVED
    assert not s.retract(retraction, AGENT)
    assert not s.record_scan(delivered, AGENT, now=at(20))  # a redelivery stays retracted
    assert [type(e).__name__ for e in s.collect_events()][-2:] == ["ScanRecorded", "ScanRetracted"]


def test_retracting_what_was_never_recorded_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        booked().retract(Retraction(retracted_id="nope", tracking_number=TN, declared_at=at(3)), AGENT)
    assert e.value.field == "retracted_id"


def test_carrier_updates_round_trip_and_survive_a_state_copy() -> None:
    s = booked()
    s.record_scan(scan("RECEIVED", "HKHKG", 2, scan_id="r"), AGENT, now=at(20))
    s.record_estimate(estimate("SESTO", 17), AGENT)
    s.note_carrier_event(CarrierNote(note_id="n", tracking_number=TN, occurred_at=at(2),
                                     reported=RAW, location=Locode("HKHKG")), AGENT)
    s.retract(Retraction(retracted_id="r", tracking_number=TN, declared_at=at(3),
                         corrected_by=("c",)), AGENT)
    mapper = StructMapper()
    events = s.collect_events()
    for event in events:
        back = mapper.to_domain_event(mapper.to_stored_event(event))
        assert vars(back) == vars(event)
    copy = Shipment.from_state(s.state())
    assert copy.scan_ids == s.scan_ids and copy.delivery() == s.delivery()
    replayed = None
    for event in events:
        replayed = mapper.to_domain_event(mapper.to_stored_event(event)).mutate(replayed)
    assert replayed.delivery() == s.delivery() and replayed.scan_ids == s.scan_ids
