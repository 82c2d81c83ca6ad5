"""The Shipment aggregate's commands: what they record and what they refuse."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from tests.builders import AGENT, HK_STO, TN, TYO_HAM_STO, at, booking, declaration, route, scan
from tracking.carrier import Retraction
from tracking.codes import Status
from tracking.customs import CustomsEntry, CustomsStatus
from tracking.derivation import derive
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



JOURNEY = [
    ("RECEIVED", "HKHKG", 2, None), ("LOADED", "HKHKG", 3, "V100"),
    ("UNLOADED", "JPTYO", 6, "V100"), ("LOADED", "JPTYO", 12, "V400"),
    ("UNLOADED", "DEHAM", 20, "V400"), ("LOADED", "DEHAM", 21, "T500"),
    # Arriving before unloading: the ETA becomes the earlier of the two.
    ("ARRIVED", "SESTO", 22, "T500"), ("UNLOADED", "SESTO", 23, "T500"), ("OUT_FOR_DELIVERY", "SESTO", 24, None),
    ("DELIVERED", "SESTO", 25, None),
]


def test_the_delivery_derived_as_scans_come_equals_one_derived_from_scratch() -> None:
    """A shipment goes on with its derivation while scans come in time
    order, and starts again when one comes late or the plans or customs
    change: after every event, in any order of arrival, it says what a
    fresh fold says."""
    rng = random.Random(7)
    later = NOW + timedelta(days=9)
    for _ in range(100):
        s = booked()
        entry = CustomsEntry.declare(declaration(), (), None, AGENT, at=at(22))
        steps: list[tuple[str, Any]] = [("scan", j) for j in JOURNEY]
        steps += [("reroute", at(7)), ("customs", None), ("customs", None), ("retract", None)]
        # Mostly in time order, a third of them arriving at random.
        steps.sort(key=lambda _: rng.random() if rng.random() < 0.3 else 0.0)
        for kind, what in steps:
            if kind == "scan":
                event, loc, day, voyage = what
                s.record_scan(scan(event, loc, day, voyage=voyage), AGENT, now=later)
            elif kind == "retract":  # the carrier declares its earliest scan an error
                if s.scans:
                    s.retract(Retraction(retracted_id=s.scans[0].scan_id, tracking_number=TN,
                                         declared_at=later), AGENT)
            elif kind == "reroute":
                if not s.delivery().status.is_terminal:
                    s.reroute(TYO_HAM_STO, None, at=what, source=AGENT)
            else:  # lodged first, then held
                held = bool(entry.steps)
                entry.progress(CustomsStatus.HELD if held else CustomsStatus.LODGED,
                               occurred_at=at(23, 1 + len(entry.steps)), source=AGENT,
                               now=at(23), reason="DOCUMENTS" if held else None)
                s.note_customs(entry.mark(), AGENT)
            assert s.delivery() == derive(s.plans, s.counted_scans(), s.counted_customs(),
                                          s.estimates)
