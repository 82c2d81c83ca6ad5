"""The derivation of a shipment's ``Delivery``: a fold over one timeline of
route plans, scans and customs marks, by the rules ``tracking.delivery``
describes, each value's reason recorded where it is set (``tracking.reasons``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from tracking.carrier import Estimate
from tracking.codes import ExceptionReason, ScanEvent, Status, TransportStatus
from tracking.customs_mark import CustomsMark
from tracking.customs_status import CustomsStatus
from tracking.delivery import Delivery, Expected
from tracking.identifiers import Locode
from tracking.phase import Phase
from tracking.reasons import Reason, Reasons
from tracking.route import Leg, RoutePlan
from tracking.scan import Scan


_ZERO = timedelta(0)
_MOVEMENT_STATUS = {
    ScanEvent.OUT_FOR_DELIVERY: (Status.OUT_FOR_DELIVERY, TransportStatus.OUT_FOR_DELIVERY),
    ScanEvent.DELIVERY_ATTEMPTED: (Status.DELIVERY_ATTEMPTED, TransportStatus.UNKNOWN),
    ScanEvent.READY_FOR_PICKUP: (Status.READY_FOR_PICKUP, TransportStatus.AT_FACILITY),
}


class _Fold(Reasons):
    """The running state of the derivation. Private: only ``derive`` uses it."""

    def __init__(self, plan: RoutePlan) -> None:
        self.plan = plan
        self.legs: tuple[Leg, ...] = plan.route.legs
        self.status = Status.INFO_RECEIVED
        self.transport = TransportStatus.NOT_RECEIVED
        self.location: Locode | None = None
        self.voyage: str | None = None
        self.phase = Phase.NONE
        self.leg: int | None = None
        self.misdirected = False
        self.returning = False
        self.terminal = False
        self.delay = _ZERO
        self.last_leg_arrived_at: datetime | None = None
        self.last_scan: Scan | None = None
        self.delivered_at: datetime | None = None
        self.customs: dict[object, CustomsMark] = {}
        Reasons.__init__(self)

    # -- re-routes ---------------------------------------------------------------

    def apply_plan(self, plan: RoutePlan) -> None:
        self.plan = plan
        self.plan_no += 1
        self.legs = plan.route.legs
        # The new schedule was planned from the situation as it is: delays
        # observed on the old legs are already in it.
        self.delay = _ZERO
        self.delay_scan = None
        self.last_leg_arrived_at = None
        self.arrived_scan = None
        # The leg index was into the old route: until placed on the new one,
        # it is on none of its legs (and the new route is searched from its start).
        self.leg = None
        if self.terminal or self.returning or self.phase is Phase.LAST_MILE:
            return
        # Placed by the new route from where the scans had put it.
        self.place_plan = self.plan_no
        if not self.legs:
            self.misdirected = False
            self._why_placed("not routed: nothing to stray from")
            return
        if self.phase in (Phase.NONE, Phase.RECEIVED):
            self.leg, self.misdirected = -1, False
            self._why_placed("new route starts where the shipment is")
        elif self.phase in (Phase.ONBOARD, Phase.ARRIVED):
            self._place(self._find(lambda leg: leg.voyage == self.voyage))
        else:
            self.phase = Phase.AT_FACILITY
            self._place(self._place_at_facility())

    def _place_at_facility(self) -> int | None:
        """The index of the leg just completed by a shipment waiting at its
        location: -1 if the route starts there."""
        at = self.location
        for j, leg in enumerate(self.legs):
            if leg.from_ == at:
                return j - 1
        for j, leg in enumerate(self.legs):
            if leg.to == at:
                return j
        return None

    def _place(self, leg: int | None, scan: Scan | None = None) -> None:
        self.leg = leg
        self.misdirected = leg is None
        if scan is None:
            self._why_placed("new route does not expect it where it is" if leg is None
                             else "new route expects it where it is")
        else:
            # Judged from where the shipment was before it (what placed it last).
            self.mis_rule = ("scanned where the route does not expect it" if leg is None
                             else "scanned where the route expects it")
            self.mis_plan, self.mis_before, self.mis_by = self.plan_no, self.before, scan


    # -- scans -------------------------------------------------------------------

    def apply_scan(self, scan: Scan) -> None:
        if self.terminal:
            return
        self.last_scan = scan
        self.location = scan.location
        event = scan.event
        self.before = self.place_scan
        if event not in (ScanEvent.EXCEPTION, ScanEvent.HANDED_OVER):
            self.place_scan, self.place_plan = scan, None
        if event is ScanEvent.RECEIVED:
            self._received(scan)
        elif event in (ScanEvent.LOADED, ScanEvent.DEPARTED):
            self._loaded(scan)
        elif event in (ScanEvent.ARRIVED, ScanEvent.UNLOADED):
            self._unloaded(scan)
        elif event is ScanEvent.HANDED_OVER:
            self._moving(TransportStatus.AT_FACILITY, scan)
        elif event in _MOVEMENT_STATUS:
            status, transport = _MOVEMENT_STATUS[event]
            self.status = Status.RETURNING if self.returning else status
            self.transport = transport
            self.voyage = None
            self.phase = Phase.LAST_MILE
            self._why_moved(scan, "last-mile scan")
        elif event is ScanEvent.DELIVERED:
            self.status = Status.RETURNED if self.returning else Status.DELIVERED
            if not self.returning:
                self.delivered_at = scan.occurred_at
                self.delivered_scan = scan
            self.transport = TransportStatus.DELIVERED
            self.voyage = None
            self.phase = Phase.LAST_MILE
            self.terminal = True
            self._why_moved(scan, "delivery scan ends the journey")
        elif event is ScanEvent.RETURNED_TO_SENDER:
            self._begin_return("returned to sender", scan)
            self.transport = TransportStatus.UNKNOWN
            self.tr_rule, self.tr_by = "transport status of the return to sender", scan
        elif event is ScanEvent.EXCEPTION:
            self.status = Status.EXCEPTION
            self.st_rule, self.st_by = "exception scan", scan
            if scan.reason is ExceptionReason.LOST:
                self.transport = TransportStatus.UNKNOWN
                self.tr_rule, self.tr_by = "reported lost", scan

    # -- customs -----------------------------------------------------------------

    def apply_customs(self, mark: CustomsMark) -> None:
        if self.terminal:
            return
        known = self.customs.get(mark.entry_id)
        if known is not None and known.entry_version > mark.entry_version:
            return  # dated earlier than a report the entry recorded before it
        self.customs[mark.entry_id] = mark
        if mark.status is CustomsStatus.RETURNED:
            # Refused entry: the goods go back to the sender, as after RETURNED_TO_SENDER.
            self._begin_return("customs returned the goods", mark)

    def _begin_return(self, why: str, cause: object) -> None:
        """On the way back to the sender: on no leg of the route, judged by none."""
        self.returning = True
        self.misdirected = False
        self._why_returning(why, cause)
        self.status = Status.RETURNING
        self.voyage = None
        self.leg = None

    def public_status(self) -> Status:
        """The status a customer sees: the stage the scans put it in, unless
        customs has the goods (see the module's lifecycle)."""
        if self.terminal:
            return self.status
        states = {m.status for m in self.customs.values()}
        if CustomsStatus.SEIZED in states:
            return Status.EXCEPTION
        if states & {CustomsStatus.HELD, CustomsStatus.REJECTED}:
            return Status.CUSTOMS_HOLD
        if any(s.with_customs for s in states):
            return Status.IN_CUSTOMS
        if self.status is Status.INFO_RECEIVED and CustomsStatus.RELEASED in states:
            # Cleared before any scan reached us: customs clearance is a
            # transit milestone (as AfterShip's InTransit_005), not a step back.
            return Status.IN_TRANSIT
        return self.status


    def _moving(self, transport: TransportStatus, scan: Scan | None = None) -> None:
        self.status = Status.RETURNING if self.returning else Status.IN_TRANSIT
        self.transport = transport
        if transport is not TransportStatus.ONBOARD:
            self.voyage = None
        if scan is not None:
            self.st_rule = self.tr_rule = "scan in the network"
            self.st_by = self.tr_by = scan

    def _judging(self) -> bool:
        """Scans are judged against the route only on the way out, with a route."""
        return bool(self.legs) and not self.returning

    def _received(self, scan: Scan) -> None:
        self._moving(TransportStatus.AT_FACILITY, scan)
        if self.phase in (Phase.NONE, Phase.RECEIVED):
            # First mile: wherever it was accepted, the first leg comes next.
            self.phase = Phase.RECEIVED
            self.leg = -1
            return
        # Received again at a later facility: it must be somewhere the route
        # can take it from.
        self.phase = Phase.AT_FACILITY
        if self._judging():
            self._place(self._place_at_facility(), scan)

    def _loaded(self, scan: Scan) -> None:
        self._moving(TransportStatus.ONBOARD, scan)
        self.phase = Phase.ONBOARD
        self.voyage = scan.voyage
        if not self._judging():
            return
        j = self._find(
            lambda leg: leg.from_ == scan.location
            and (scan.voyage is None or leg.voyage == scan.voyage)
        )
        self._place(j, scan)
        if j is not None:
            self.voyage = scan.voyage or self.legs[j].voyage
            self._observe(scan.occurred_at - self.legs[j].departs_at, scan)

    def _unloaded(self, scan: Scan) -> None:
        self._moving(TransportStatus.AT_FACILITY, scan)
        arrived = scan.event is ScanEvent.ARRIVED
        onboard_leg = self.leg if self.phase in (Phase.ONBOARD, Phase.ARRIVED) else None
        self.phase = Phase.ARRIVED if arrived else Phase.AT_FACILITY
        if not self._judging():
            return
        voyage = scan.voyage
        if voyage is None and onboard_leg is not None and onboard_leg >= 0:
            # Coming off the leg it is on: that leg's end is the only right place.
            voyage = self.legs[onboard_leg].voyage
        j = self._find(
            lambda leg: leg.to == scan.location and (voyage is None or leg.voyage == voyage)
        )
        self._place(j, scan)
        if j is not None:
            self._observe(scan.occurred_at - self.legs[j].arrives_at, scan)
            if j == len(self.legs) - 1 and self.last_leg_arrived_at is None:
                self.last_leg_arrived_at = scan.occurred_at
                self.arrived_scan = scan

    def _find(self, matches: Callable[[Leg], bool]) -> int | None:
        """The first matching leg from the current one on, else any earlier one
        (a route may pass the same place twice)."""
        start = max(self.leg or 0, 0)
        order = [*range(start, len(self.legs)), *range(start)]
        return next((j for j in order if matches(self.legs[j])), None)

    def _observe(self, delay: timedelta, scan: Scan) -> None:
        # Running early does not bring the end forward: connections are scheduled.
        self.delay = max(delay, _ZERO)
        self.delay_scan = scan

    # -- results -----------------------------------------------------------------

    def next_expected(self) -> Expected | None:
        if self.terminal or self.returning or self.misdirected or not self.legs:
            return None
        legs, phase = self.legs, self.phase
        if phase is Phase.NONE:
            return Expected(ScanEvent.RECEIVED, legs[0].from_)
        if phase is Phase.LAST_MILE:
            return Expected(ScanEvent.DELIVERED, self.plan.destination)
        if self.leg is None:
            return None
        if phase in (Phase.ONBOARD, Phase.ARRIVED):
            leg = legs[self.leg]
            return Expected(ScanEvent.UNLOADED, leg.to, leg.voyage)
        if self.leg + 1 < len(legs):
            leg = legs[self.leg + 1]
            return Expected(ScanEvent.LOADED, leg.from_, leg.voyage)
        return Expected(ScanEvent.DELIVERED, self.plan.destination)

    def eta(self, estimates: Sequence[Estimate] = ()) -> datetime | None:
        if not self.legs or self.misdirected or self.returning:
            return None
        if self.delivered_at is not None:
            return self.delivered_at  # no longer an estimate
        if self.last_leg_arrived_at is not None:
            return self.last_leg_arrived_at
        # The carrier's latest estimate of arriving at the last leg's end knows
        # more than our schedule shifted by the delay seen so far.
        end = self.legs[-1].to
        for estimate in reversed(estimates):
            if estimate.is_arrival and estimate.location == end:
                return estimate.expected_at
        return self.legs[-1].arrives_at + self.delay

    def result(self, estimates: Sequence[Estimate] = ()) -> Delivery:
        return Delivery(
            status=self.public_status(),
            transport_status=self.transport,
            routing_status=self.plan.route.routing_status(self.plan.destination),
            destination=self.plan.destination,
            last_location=self.location,
            current_voyage=self.voyage if self.transport is TransportStatus.ONBOARD else None,
            misdirected=self.misdirected,
            next_expected=self.next_expected(),
            eta=self.eta(estimates),
            last_scan=self.last_scan,
            customs=tuple(self.customs.values()),
            delivered_at=self.delivered_at,
        )



class Derivation:
    """A derivation that goes on as scans come: ``add`` folds one more scan
    that happened no earlier than those before it, ``result`` is the
    delivery so far. ``derive`` is the same from scratch; a shipment keeps
    one between scans, so judging a shipment after each of its events costs
    one scan, not all of them."""

    def __init__(self, plans: Sequence[RoutePlan], customs: Sequence[CustomsMark] = ()) -> None:
        if not plans:
            raise ValueError("a delivery is derived for a booked shipment: it needs a route plan")
        self.fold = _Fold(plans[0])
        self.pending = list(plans[1:])
        self.marks = list(customs)
        self.m = 0
        self.count = 0  # scans folded
        self.last_at: datetime | None = None

    def add(self, scan: Scan) -> None:
        if self.last_at is not None and scan.occurred_at < self.last_at:
            raise ValueError("scans are folded in occurred_at order")
        fold = self.fold
        # A re-route recorded at the same instant as a scan answers that scan;
        # customs reports at the same instant as a scan come after it.
        while self.pending and _effective(self.pending[0]) < scan.occurred_at:
            fold.apply_plan(self.pending.pop(0))
        while self.m < len(self.marks) and self.marks[self.m].occurred_at < scan.occurred_at:
            fold.apply_customs(self.marks[self.m])
            self.m += 1
        fold.apply_scan(scan)
        self.count += 1
        self.last_at = scan.occurred_at

    def skip(self) -> None:
        """Pass over the next scan: it is kept, but not derived from."""
        self.count += 1

    def result(self, estimates: Sequence[Estimate] = ()) -> Delivery:
        """``estimates``: the carriers' estimates, in the order recorded."""
        return self._settled().result(estimates)

    def explain(self, estimates: Sequence[Estimate] = ()) -> dict[str, Reason]:
        """Why each field of ``result(estimates)`` is what it is."""
        return self._settled().explain(estimates)

    def _settled(self) -> _Fold:
        if not self.pending and self.m == len(self.marks):
            return self.fold
        # What comes after the last scan applies to a copy: the next scan
        # may still come before it.
        fold = copy.copy(self.fold)
        fold.customs = dict(fold.customs)
        for plan in self.pending:
            fold.apply_plan(plan)
        for mark in self.marks[self.m :]:
            fold.apply_customs(mark)
        return fold


def derive(
    plans: Sequence[RoutePlan],
    scans: Sequence[Scan],
    customs: Sequence[CustomsMark] = (),
    estimates: Sequence[Estimate] = (),
) -> Delivery:
    """The delivery of a shipment with these route plans (the booked one first,
    then each re-route in the order recorded), these scans and these customs
    marks, each in ``occurred_at`` order (ties in the order they were
    recorded), and the carriers' estimates in the order recorded."""
    derivation = Derivation(plans, customs)
    for scan in scans:
        derivation.add(scan)
    return derivation.result(estimates)


def _effective(plan: RoutePlan) -> datetime:
    assert plan.effective_at is not None, "only the booked plan is in force from the start"
    return plan.effective_at
