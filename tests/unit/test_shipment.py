"""The Shipment aggregate's commands: what they record and what they refuse."""

from __future__ import annotations

import pytest

from tests.builders import AGENT, HK_STO, TN, TYO_HAM_STO, at, booking, route, scan
from tracking.codes import Status
from tracking.errors import BookingConflict, InvalidInput, ShipmentNotFound
from tracking.identifiers import Locode
from tracking.shipment import Shipment

NOW = at(20)


def booked() -> Shipment:
    s = Shipment.open(TN, AGENT)
    s.book(booking(), HK_STO, AGENT)
    return s


def test_opening_and_booking_record_two_events() -> None:
    s = booked()
    events = s.collect_events()
    assert [type(e) for e in events] == [Shipment.Opened, Shipment.Booked]
    assert s.is_booked and s.destination == "SESTO" and s.route == HK_STO


def test_the_same_booking_again_changes_nothing() -> None:
    s = booked()
    s.collect_events()
    assert s.book(booking(), HK_STO, AGENT) is False
    assert s.collect_events() == []


def test_a_different_booking_is_refused() -> None:
    s = booked()
    with pytest.raises(BookingConflict, match="already booked with different data"):
        s.book(booking(carrier="dhl"), HK_STO, AGENT)
    with pytest.raises(BookingConflict):
        s.book(booking(), route(), AGENT)


def test_an_unbooked_shipment_is_not_found_by_readers() -> None:
    s = Shipment.open(TN, AGENT)
    s.record_scan(scan("RECEIVED", "HKHKG", 2), AGENT, now=NOW)
    with pytest.raises(ShipmentNotFound):
        s.delivery()


def test_scans_kept_before_booking_apply_once_booked() -> None:
    s = Shipment.open(TN, AGENT)
    s.record_scan(scan("RECEIVED", "HKHKG", 2), AGENT, now=NOW)
    s.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100"), AGENT, now=NOW)
    s.book(booking(), HK_STO, AGENT)
    assert s.delivery().current_voyage == "V100"


def test_a_scan_id_is_recorded_once() -> None:
    s = booked()
    first = scan("RECEIVED", "HKHKG", 2, scan_id="scan-1")
    assert s.record_scan(first, AGENT, now=NOW) is True
    again = scan("LOADED", "HKHKG", 3, voyage="V100", scan_id="scan-1")
    assert s.record_scan(again, AGENT, now=NOW) is False
    assert len(s.scans) == 1


def test_scans_are_kept_in_occurred_at_order() -> None:
    s = booked()
    late = scan("LOADED", "HKHKG", 3, voyage="V100")
    early = scan("RECEIVED", "HKHKG", 2)
    s.record_scan(late, AGENT, now=NOW)
    s.record_scan(early, AGENT, now=NOW)
    assert s.scans == [early, late]


def test_a_scan_far_in_the_future_is_refused() -> None:
    s = booked()
    with pytest.raises(InvalidInput, match="scanner's clock") as e:
        s.record_scan(scan("RECEIVED", "HKHKG", 3), AGENT, now=at(1, 23))
    assert e.value.field == "occurred_at"
    assert s.scans == []


def test_a_scan_for_another_number_is_refused() -> None:
    s = booked()
    with pytest.raises(InvalidInput):
        s.record_scan(scan("RECEIVED", "HKHKG", 2, tn="RR473124829US"), AGENT, now=NOW)


def test_reroute_records_the_new_plan_and_repeating_it_changes_nothing() -> None:
    s = booked()
    s.collect_events()
    assert s.reroute(TYO_HAM_STO, None, at=at(7), source=AGENT) is True
    assert s.reroute(TYO_HAM_STO, Locode("SESTO"), at=at(8), source=AGENT) is False
    events = s.collect_events()
    assert [type(e) for e in events] == [Shipment.Rerouted]
    assert s.route == TYO_HAM_STO


def test_a_delivered_shipment_cannot_be_rerouted() -> None:
    s = booked()
    s.record_scan(scan("DELIVERED", "SESTO", 16), AGENT, now=NOW)
    assert s.delivery().status is Status.DELIVERED
    with pytest.raises(BookingConflict, match="delivered"):
        s.reroute(TYO_HAM_STO, None, at=at(17), source=AGENT)


def test_rerouting_an_unbooked_shipment_is_not_found() -> None:
    s = Shipment.open(TN, AGENT)
    with pytest.raises(ShipmentNotFound):
        s.reroute(TYO_HAM_STO, None, at=at(7), source=AGENT)


def test_state_round_trips_everything_a_shipment_holds() -> None:
    s = booked()
    s.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100"), AGENT, now=NOW)
    s.record_scan(scan("RECEIVED", "HKHKG", 2), AGENT, now=NOW)
    s.collect_events()
    again = Shipment.from_state(s.state())
    assert vars(again) == vars(s)


def test_a_shipment_not_heard_of_for_too_long_is_flagged_stalled_once() -> None:
    from datetime import timedelta

    from tracking.exceptions import ExceptionKind, open_exceptions

    s = booked()
    quiet_since = s.last_activity_at
    assert not s.flag_stalled(now=quiet_since + timedelta(hours=71), threshold=timedelta(hours=72), source=AGENT)
    assert s.flag_stalled(now=quiet_since + timedelta(hours=73), threshold=timedelta(hours=72), source=AGENT)
    assert not s.flag_stalled(now=quiet_since + timedelta(hours=99), threshold=timedelta(hours=72), source=AGENT)
    assert s.stalled_since == quiet_since
    assert ExceptionKind.STALLED in open_exceptions(s)
    s.record_scan(scan("RECEIVED", "HKHKG", 2), AGENT, now=NOW)
    assert s.stalled_since is None
    assert ExceptionKind.STALLED not in open_exceptions(s)
