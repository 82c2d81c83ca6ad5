"""The public status never goes back along the lifecycle, whatever happens
in whatever order: a property over random histories of a shipment (its
booking, scans of every code dated in any order, customs events, re-routes,
returns), checked after each recorded event, as a customer would see it.

The lifecycle is INFO_RECEIVED, then IN_TRANSIT, then the last mile
(OUT_FOR_DELIVERY, DELIVERY_ATTEMPTED, READY_FOR_PICKUP), then DELIVERED.
The exceptions, as ``tracking.delivery`` documents them:

- customs (IN_CUSTOMS, CUSTOMS_HOLD) and EXCEPTION interrupt any stage;
  when they end, the status is the stage the parcel is in, never
  INFO_RECEIVED again (customs clearance is a transit milestone);
- a return (RETURNING, then RETURNED) may begin at any stage and does not
  go back to the outbound stages;
- back from the last mile: a later scan in the network (a depot, after a
  failed attempt) shows IN_TRANSIT again, because that is where it is;
- a re-route changes where the parcel goes, never its status;
- an end (DELIVERED, RETURNED) is never left, whatever is recorded after it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.builders import AGENT, HK_STO, TN, TYO_HAM_STO, at, booking, declaration, leg, route
from tracking.codes import ExceptionReason, ScanEvent, Status
from tracking.customs import CustomsEntry, CustomsStatus
from tracking.errors import BookingConflict, TrackingError
from tracking.identifiers import Locode
from tracking.route import Route
from tracking.scan import Scan
from tracking.shipment import Shipment

T0 = at(1)
NOW = at(31)  # after everything generated, so no scan is dated ahead of its arrival
PLACES = ["HKHKG", "USLAX", "USNYC", "SESTO", "JPTYO", "DEHAM"]
VOYAGES = [None, "V100", "R200", "A300", "V400", "T500"]
ROUTES: list[tuple[Route, str | None]] = [
    (HK_STO, None), (TYO_HAM_STO, None), (route(), None),
    (route(leg("V400", "JPTYO", "DEHAM", 12, 20)), "DEHAM"),  # a new destination
    (route(leg("V400", "JPTYO", "DEHAM", 12, 20)), None),  # a route that no longer reaches it
]
STAGE = {Status.INFO_RECEIVED: 0, Status.IN_TRANSIT: 1, Status.OUT_FOR_DELIVERY: 2,
         Status.DELIVERY_ATTEMPTED: 2, Status.READY_FOR_PICKUP: 2, Status.DELIVERED: 3}
INTERRUPTIONS = {Status.IN_CUSTOMS, Status.CUSTOMS_HOLD, Status.EXCEPTION}
RETURN = {Status.RETURNING, Status.RETURNED}
STEPS = [s for s in CustomsStatus if s is not CustomsStatus.DECLARED]
IN_THE_NETWORK = {ScanEvent.RECEIVED, ScanEvent.LOADED, ScanEvent.DEPARTED, ScanEvent.ARRIVED,
                  ScanEvent.UNLOADED, ScanEvent.HANDED_OVER}


@dataclass(frozen=True)
class Book:
    pass


@dataclass(frozen=True)
class ScanAt:
    event: ScanEvent
    place: str
    voyage: str | None
    reason: ExceptionReason


@dataclass(frozen=True)
class CustomsAt:
    """Customs' next step for one country's entry: the first of the steps,
    from ``pick`` on, that the entry can take now (random steps are mostly
    ones customs cannot take, which would leave the entry where it is)."""

    country: str
    pick: int


@dataclass(frozen=True)
class RerouteTo:
    choice: int


actions = st.one_of(
    st.builds(ScanAt, st.sampled_from(ScanEvent), st.sampled_from(PLACES),
              st.sampled_from(VOYAGES), st.sampled_from(ExceptionReason)),
    st.builds(CustomsAt, st.sampled_from(["SE", "US"]), st.integers(0, len(STEPS) - 1)),
    st.builds(RerouteTo, st.integers(0, len(ROUTES) - 1)),
)


@st.composite
def histories(draw: Any) -> list[tuple[Any, int]]:
    """Actions, the booking among them, each dated at a distinct hour in
    any order (dated order is not recorded order)."""
    steps = draw(st.lists(actions, max_size=30))
    steps.insert(draw(st.integers(0, len(steps))), Book())
    hours = draw(st.lists(st.integers(0, 24 * 29), min_size=len(steps), max_size=len(steps),
                          unique=True))
    return list(zip(steps, hours, strict=True))


class Life:
    """A shipment living through a history, as the application would record it."""

    def __init__(self) -> None:
        self.shipment = Shipment.open(TN, AGENT)
        self.entries: dict[str, CustomsEntry] = {}
        self.scans: list[Scan] = []

    def apply(self, action: Any, when: Any) -> None:
        s = self.shipment
        if isinstance(action, Book):
            s.book(booking(), HK_STO, AGENT)
        elif isinstance(action, ScanAt):
            scan = Scan(
                scan_id=f"s{len(self.scans)}", tracking_number=TN, event=action.event,
                location=Locode(action.place), occurred_at=when,
                voyage=action.voyage,
                reason=action.reason if action.event is ScanEvent.EXCEPTION else None)
            s.record_scan(scan, AGENT, now=NOW)
            self.scans.append(scan)
        elif isinstance(action, CustomsAt) and s.is_booked:
            self._customs(action, when)
        elif isinstance(action, RerouteTo) and s.is_booked:
            new, destination = ROUTES[action.choice]
            try:
                s.reroute(new, Locode(destination) if destination else None, at=when,
                          source=AGENT)
            except BookingConflict:
                pass  # refused once delivered or returned: nothing recorded

    def _customs(self, action: CustomsAt, when: Any) -> None:
        entry = self.entries.get(action.country)
        if entry is None:
            currency = "USD" if action.country == "US" else "EUR"
            entry = self.entries[action.country] = CustomsEntry.declare(
                declaration(country=action.country, currency=currency), (), None, AGENT, at=T0)
            self.shipment.note_customs(entry.mark(), AGENT)
        for status in STEPS[action.pick:] + STEPS[:action.pick]:
            extra: dict[str, Any] = {}
            if status is CustomsStatus.HELD:
                extra["reason"] = "inspection"
            elif status is CustomsStatus.DUTIES_ASSESSED:
                extra["amount"] = Decimal("10.00")
            try:
                if entry.progress(status, occurred_at=when, source=AGENT, now=NOW, **extra):
                    self.shipment.note_customs(entry.mark(), AGENT)
                    return
            except TrackingError:  # InvalidTransition, InvalidInput
                continue  # a step customs cannot take now: refused, nothing recorded

    def latest_scan(self) -> Scan | None:
        """The scan dated last (of equal dates, the one recorded last)."""
        dated = sorted(enumerate(self.scans), key=lambda p: (p[1].occurred_at, p[0]))
        return dated[-1][1] if dated else None


def check_move(seen: list[Status], now: Status, latest: Scan | None) -> None:
    """``now`` may follow the statuses ``seen`` (oldest first)."""
    if not seen:
        return
    before = seen[-1]
    if before.is_terminal:
        assert now is before, f"{before} is an end, yet it became {now}"
    if now is Status.INFO_RECEIVED:
        assert set(seen) == {Status.INFO_RECEIVED}, f"back to INFO_RECEIVED after {seen}"
        return
    if now in INTERRUPTIONS or now in RETURN or now is Status.DELIVERED:
        return  # an interruption, a return, an end: each may come at any stage
    assert not RETURN & set(seen), f"{now} after the return began ({seen})"
    stages = [s for s in seen if s in STAGE]
    stage = stages[-1] if stages else Status.INFO_RECEIVED
    if STAGE[now] < STAGE[stage]:
        back_from_last_mile = (
            now is Status.IN_TRANSIT and STAGE[stage] == 2
            and latest is not None and latest.event in IN_THE_NETWORK
        )
        assert back_from_last_mile, f"{stage} went back to {now} (latest scan {latest})"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_the_public_status_never_goes_back_along_the_lifecycle(
    history: list[tuple[Any, int]],
) -> None:
    life = Life()
    seen: list[Status] = []
    for action, hour in history:
        life.apply(action, T0 + timedelta(hours=hour))
        if life.shipment.is_booked:
            now = life.shipment.delivery().status
            check_move(seen, now, life.latest_scan())
            seen.append(now)
    # What a replica rebuilt from the events, or from the state, derives is the same.
    s = life.shipment
    events = s.collect_events()
    replayed = functools.reduce(lambda agg, e: e.mutate(agg), events, None)
    assert isinstance(replayed, Shipment)
    assert replayed.delivery() == s.delivery()
    assert Shipment.from_state(s.state()).delivery() == s.delivery()


# -- the cases the property found, and the exceptions, one by one ----------------


def booked() -> Shipment:
    s = Shipment.open(TN, AGENT)
    s.book(booking(), HK_STO, AGENT)
    return s


def customs(s: Shipment, *steps: CustomsStatus, hour: int = 0) -> None:
    entry = CustomsEntry.declare(declaration(), (), None, AGENT, at=T0)
    s.note_customs(entry.mark(), AGENT)
    for i, status in enumerate(steps):
        entry.progress(status, occurred_at=at(9, hour + i), source=AGENT, now=NOW)
        s.note_customs(entry.mark(), AGENT)


def scan_at(event: str, place: str, day: int, **extra: Any) -> Scan:
    return Scan(scan_id=f"{event}-{place}-{day}", tracking_number=TN, event=ScanEvent(event),
                location=Locode(place), occurred_at=at(day), **extra)


def test_released_by_customs_before_any_scan_is_in_transit_not_back_to_info_received() -> None:
    s = booked()
    customs(s, CustomsStatus.LODGED)
    assert s.delivery().status is Status.IN_CUSTOMS
    customs(s, CustomsStatus.LODGED, CustomsStatus.RELEASED, hour=1)
    assert s.delivery().status is Status.IN_TRANSIT
    # Declared but never lodged: the goods never were in customs' hands.
    untouched = booked()
    customs(untouched)
    assert untouched.delivery().status is Status.INFO_RECEIVED


def test_a_return_recorded_after_the_delivery_and_dated_before_it_does_not_undo_it() -> None:
    s = booked()
    s.record_scan(scan_at("DELIVERED", "SESTO", 16), AGENT, now=NOW)
    delivered = s.delivery()
    late = scan_at("RETURNED_TO_SENDER", "USNYC", 14)
    s.record_scan(late, AGENT, now=NOW)  # a scanner's upload, dated two days earlier
    customs(s, CustomsStatus.LODGED, CustomsStatus.RETURNED)  # customs' word, late too
    assert s.delivery() == delivered
    assert late in s.scans  # kept, and shown among the events
    assert late not in s.counted_scans() and s.counted_customs() == []


def test_retracting_the_scan_that_ended_it_lets_what_came_after_count() -> None:
    from tracking.carrier import Retraction

    s = booked()
    s.record_scan(scan_at("DELIVERED", "SESTO", 16), AGENT, now=NOW)
    s.record_scan(scan_at("RETURNED_TO_SENDER", "USNYC", 14), AGENT, now=NOW)
    assert s.delivery().status is Status.DELIVERED
    s.retract(Retraction(retracted_id="DELIVERED-SESTO-16", tracking_number=TN,
                         declared_at=at(20)), AGENT)
    assert s.delivery().status is Status.RETURNING  # the delivery never was


def test_back_from_the_last_mile_is_in_transit_again() -> None:
    s = booked()
    s.record_scan(scan_at("DELIVERY_ATTEMPTED", "SESTO", 16), AGENT, now=NOW)
    s.record_scan(scan_at("ARRIVED", "SESTO", 17), AGENT, now=NOW)  # back at the depot
    assert s.delivery().status is Status.IN_TRANSIT
    s.record_scan(scan_at("OUT_FOR_DELIVERY", "SESTO", 18), AGENT, now=NOW)
    assert s.delivery().status is Status.OUT_FOR_DELIVERY
