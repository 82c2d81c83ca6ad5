"""A retraction that brings the event it declares an error (as EPCIS
sends it): when that event never reached us, it is recorded as said,
retracted from the start: in the history, never derived from."""

from __future__ import annotations

import pytest

from tests.builders import AGENT, HK_STO, TN, at, booking, scan
from tracking.carrier import CarrierNote, Retraction
from tracking.errors import InvalidInput
from tracking.identifiers import Locode
from tracking.mapper import StructMapper
from tracking.scan import Reported
from tracking.shipment import Shipment


def booked() -> Shipment:
    s = Shipment.open(TN, AGENT)
    s.book(booking(), HK_STO, AGENT)
    s.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100"), AGENT, now=at(20))
    return s


WRONG = scan("UNLOADED", "JPTYO", 6, voyage="V100", scan_id="epcis:wrong")


def declaring(event: object, **extra: object) -> Retraction:
    return Retraction(retracted_id="epcis:wrong", tracking_number=TN, declared_at=at(7),
                      reason="incorrect_data", corrected_by=("epcis:right",),
                      declared=event, **extra)  # type: ignore[arg-type]


def test_a_declared_scan_never_recorded_is_recorded_retracted_and_not_derived_from() -> None:
    s = booked()
    before = s.delivery()
    assert s.retract(declaring(WRONG), AGENT)
    [event] = s.collect_events()[-1:]
    assert isinstance(event, Shipment.RetractedEventRecorded)
    assert (event.scan, event.note, event.reason, event.declared_at) == (
        WRONG, None, "incorrect_data", at(7))
    assert isinstance(event, Shipment.ScanRetracted)  # it is a retraction, with its event
    assert s.retracted == [WRONG] and WRONG not in s.scans
    assert s.delivery() == before  # not misdirected by an unload in Tokyo that never was
    # Said again, or the original arriving late: recorded once, and still retracted.
    assert not s.retract(declaring(WRONG), AGENT)
    assert not s.record_scan(WRONG, AGENT, now=at(20))
    assert s.delivery() == before


def test_a_declared_note_never_recorded_is_kept_too() -> None:
    s = booked()
    note = CarrierNote(note_id="epcis:wrong", tracking_number=TN, occurred_at=at(6),
                       reported=Reported("epcis", "wrong", "commissioning"),
                       location=Locode("JPTYO"))
    assert s.retract(declaring(note), AGENT)
    assert "epcis:wrong" in s.other_ids and "epcis:wrong" in s.scan_ids
    assert not s.note_carrier_event(note, AGENT)


def test_it_round_trips_through_the_store_and_a_state_copy() -> None:
    s = booked()
    s.retract(declaring(WRONG), AGENT)
    mapper = StructMapper()
    events = s.collect_events()
    replayed = None
    for event in events:
        back = mapper.to_domain_event(mapper.to_stored_event(event))
        assert vars(back) == vars(event)
        replayed = back.mutate(replayed)
    assert isinstance(replayed, Shipment)
    copy = Shipment.from_state(s.state())
    for other in (replayed, copy):
        assert other.scan_ids == s.scan_ids and other.retracted == s.retracted
        assert other.delivery() == s.delivery()


def test_the_event_declared_must_be_the_one_retracted() -> None:
    with pytest.raises(InvalidInput) as e:
        declaring(scan("UNLOADED", "JPTYO", 6, scan_id="epcis:other"))
    assert e.value.field == "declared"
