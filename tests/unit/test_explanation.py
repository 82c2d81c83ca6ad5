"""Why each status is what it is, on the DDD sample's journey: Hong Kong to
Stockholm, misdirected in Tokyo, re-routed via Hamburg. Each derived field
cites the rule that set it and the versions of the events that decided it;
and, over random histories, every cited version exists and replaying only up
to the latest cited event gives the same value."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.builders import AGENT, HK_STO, TN, TYO_HAM_STO, at, booking, scan
from tracking.explanation import Explained, Explanation, explain
from tracking.scan import Scan
from tracking.shipment import Shipment

NOW = at(28)


class Journey:
    """A shipment and the events it recorded, in order."""

    def __init__(self, deliver_by: Any = None) -> None:
        self.shipment = Shipment.open(TN, AGENT)
        self.shipment.book(booking(deliver_by=deliver_by or at(25)), HK_STO, AGENT)
        self.events: list[Any] = list(self.shipment.collect_events())

    def record(self, *scans: Scan) -> list[int]:
        for s in scans:
            self.shipment.record_scan(s, AGENT, now=NOW)
        return self._collect()

    def reroute(self, at_: Any, to: Any = TYO_HAM_STO) -> int | None:
        self.shipment.reroute(to, None, at=at_, source=AGENT)
        return next(iter(self._collect()), None)

    def _collect(self) -> list[int]:
        new = list(self.shipment.collect_events())
        self.events += new
        return [e.originator_version for e in new]

    def explained(self) -> dict[str, Explained]:
        return {e.field if e.field != "exception" else f"exception:{e.value}": e
                for e in explain(self.events).fields}


def versions(e: Explained) -> list[int]:
    return [c.version for c in e.because]


def test_a_booked_shipment_is_explained_by_its_booking() -> None:
    j = Journey()
    why = j.explained()
    assert why["status"].rule == "booked, nothing scanned yet"
    assert versions(why["status"]) == [2]  # Opened is 1, Booked 2
    assert why["status"].because[0].type == "Booked"
    assert why["next_expected"].rule == "received at the first leg's origin"
    assert why["eta"].rule == "planned arrival shifted by observed delay"
    assert versions(why["eta"]) == [2]


def test_the_tokyo_misdirection_and_its_re_route_are_cited() -> None:
    j = Journey()
    [received] = j.record(scan("RECEIVED", "HKHKG", 2))
    [loaded] = j.record(scan("LOADED", "HKHKG", 3, 6, voyage="V100"))  # six hours late
    why = j.explained()
    assert why["eta"].value == at(15, 6)
    assert why["eta"].rule == "planned arrival shifted by observed delay"
    assert versions(why["eta"]) == [2, received, loaded]
    assert versions(why["transport_status"]) == [loaded]
    assert versions(why["last_location"]) == [loaded]

    [tokyo] = j.record(scan("UNLOADED", "JPTYO", 6, voyage="V100"))
    why = j.explained()
    assert why["misdirected"].value is True
    assert why["misdirected"].rule == "scanned where the route does not expect it"
    assert versions(why["misdirected"]) == [2, loaded, tokyo]  # judged from V100
    assert why["eta"].value is None
    assert why["eta"].rule == "misdirected: no ETA until re-routed"
    assert why["next_expected"].value is None
    assert why["exception:MISDIRECTED"].rule == "misdirected"
    assert versions(why["exception:MISDIRECTED"]) == [2, loaded, tokyo]
    assert why["exception:MISDIRECTED"].details

    rerouted = j.reroute(at(7, 12))
    why = j.explained()
    assert why["misdirected"].value is False
    assert why["misdirected"].rule == "new route expects it where it is"
    assert versions(why["misdirected"]) == [tokyo, rerouted]
    assert why["next_expected"].rule == "loaded onto the next leg"
    assert versions(why["next_expected"]) == [tokyo, rerouted]
    assert why["routing_status"].because[0].type == "Rerouted"
    assert "exception:MISDIRECTED" not in why

    [late_departure] = j.record(scan("LOADED", "JPTYO", 13, voyage="V400"))  # a day late
    why = j.explained()
    assert why["eta"].value == at(24)
    assert versions(why["eta"]) == [tokyo, rerouted, late_departure]
    assert received < loaded < tokyo < rerouted < late_departure


def test_late_and_delivered_are_explained() -> None:
    j = Journey(deliver_by=at(15, 3))
    [loaded] = j.record(scan("LOADED", "HKHKG", 3, 6, voyage="V100"))
    why = j.explained()
    assert why["exception:LATE"].rule == "ETA after the promised date"
    assert versions(why["exception:LATE"]) == [2, loaded]
    [delivered] = j.record(scan("DELIVERED", "SESTO", 16))
    why = j.explained()
    assert why["status"].rule == "delivery scan ends the journey"
    assert versions(why["status"]) == [delivered]
    assert why["eta"].rule == "delivered: the time it was"
    assert versions(why["eta"]) == [delivered]
    assert not [k for k in why if k.startswith("exception:")]


# -- over random histories ------------------------------------------------------

_PLACES = ["HKHKG", "USLAX", "USNYC", "SESTO", "JPTYO", "DEHAM"]
_EVENTS = ["RECEIVED", "LOADED", "DEPARTED", "ARRIVED", "UNLOADED", "HANDED_OVER",
           "OUT_FOR_DELIVERY", "DELIVERY_ATTEMPTED", "DELIVERED", "EXCEPTION",
           "RETURNED_TO_SENDER"]
_VOYAGES = [None, "V100", "R200", "A300", "V400", "T500"]

# Each step some hours after the one before: recorded in the order they
# happened. (A scan arriving days late may change how the scans after it were
# judged; the explanation cites the direct causes, the scan, the route and
# what placed the shipment before it, not every scan before.)
_step = st.one_of(
    st.tuples(st.sampled_from(_EVENTS), st.sampled_from(_PLACES), st.integers(1, 30),
              st.sampled_from(_VOYAGES)),
    st.tuples(st.just("REROUTE"), st.integers(1, 30)),
)


def _value(explanation: Explanation, field: str, value: Any) -> Any:
    for e in explanation.fields:
        if e.field == field and (field != "exception" or e.value == value):
            return e.value
    return None


@settings(max_examples=150, deadline=None)
@given(st.lists(_step, max_size=12))
def test_every_cited_event_exists_and_decides_the_value(steps: list[tuple[Any, ...]]) -> None:
    j = Journey()
    now = at(2)
    for i, step in enumerate(steps):
        now += timedelta(hours=step[-1] if step[0] == "REROUTE" else step[2])
        if step[0] == "REROUTE":
            if not j.shipment.delivery().status.is_terminal:
                j.reroute(now, HK_STO if j.shipment.route == TYO_HAM_STO else TYO_HAM_STO)
            continue
        event, place, _, voyage = step
        reason = "DAMAGED" if event == "EXCEPTION" else None
        s = scan(event, place, 2, voyage=voyage, reason=reason, scan_id=f"s{i}")
        j.record(msgspec.structs.replace(s, occurred_at=now))
    full = explain(j.events)
    by_version = {e.originator_version: type(e).__name__ for e in j.events}
    for e in full.fields:
        assert e.because, f"{e.field} cites nothing"
        for cited in e.because:
            assert by_version.get(cited.version) == cited.type
        latest = max(versions(e))
        replayed = explain(j.events[:latest])
        assert _value(replayed, e.field, e.value) == e.value, (e.field, e.rule)


def test_explaining_costs_the_write_path_nothing_it_did_not_pay() -> None:
    """The reasons are kept by the same fold that derives the values: the
    delivery derived through the shipment equals the one explained."""
    j = Journey()
    j.record(scan("RECEIVED", "HKHKG", 2), scan("LOADED", "HKHKG", 3, voyage="V100"))
    delivery = j.shipment.delivery()
    why = {e.field: e.value for e in explain(j.events).fields}
    assert why["status"] == delivery.status and why["eta"] == delivery.eta
    assert why["next_expected"] == delivery.next_expected
    assert j.shipment.delivery() == delivery
    assert delivery.eta == at(15) + timedelta(0)
