"""Why each value of a delivery is what it is: the rule that set it and what
it read (a scan, a route plan's number, a customs mark, a carrier estimate).

The derivation (``tracking.derivation``) records these where it sets each
value, so an explanation cannot drift from what it explains; ``Reasons``
holds that bookkeeping, and ``tracking.explanation`` turns the causes into
the versions of the events that recorded them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from tracking.carrier import Estimate
from tracking.codes import Status
from tracking.customs_mark import CustomsMark
from tracking.customs_status import CustomsStatus
from tracking.phase import Phase
from tracking.route import Leg
from tracking.scan import Scan


# What decided a value: ("scan", scan_id), ("plan", i) (i-th route plan, 0 the
# booking's), ("customs", (entry_id, entry_version)) or ("estimate", i) (the
# i-th carrier estimate recorded). The shipment maps them to event versions.
Cause = tuple[str, object]


class Reason(msgspec.Struct, frozen=True, gc=False):
    """Why a derived value is what it is: the rule that set it and what it read."""

    rule: str
    because: tuple[Cause, ...]


_BOOKED = 0  # the booking's plan, as a cause


def _causes(*by: object) -> tuple[Cause, ...]:
    """Causes of what was read: a scan, a customs mark or a plan's number."""
    found: list[Cause] = []
    for x in by:
        if isinstance(x, Scan):
            found.append(("scan", x.scan_id))
        elif isinstance(x, CustomsMark):
            found.append(("customs", (x.entry_id, x.entry_version)))
        elif isinstance(x, int):
            found.append(("plan", x))
    return tuple(found)


class Reasons:
    """The "why" bookkeeping of the derivation's running state, a part of it
    (``tracking.derivation._Fold``): what set each running value, kept as
    plain references (a rule's name, the scan, mark or plan number it read),
    so folding a scan allocates nothing more; the ``why_*`` members make
    Reasons of them when asked."""

    # The running values the reasons are about, set by the derivation.
    status: Status
    phase: Phase
    legs: tuple[Leg, ...]
    leg: int | None
    misdirected: bool
    returning: bool
    terminal: bool
    last_scan: Scan | None
    last_leg_arrived_at: datetime | None
    delivered_at: datetime | None
    customs: dict[object, CustomsMark]

    def __init__(self) -> None:
        self.plan_no = 0
        self.st_rule, self.st_by = "booked, nothing scanned yet", _BOOKED
        self.tr_rule, self.tr_by = "not received yet", _BOOKED
        # Misdirected or not: the rule, the plan, what placed it before, the scan.
        self.mis_rule, self.mis_plan = "nothing scanned yet", 0
        self.mis_before: Scan | None = None
        self.mis_by: object = None
        self.place_scan: Scan | None = None  # what set the phase and leg last
        self.place_plan: int | None = None  # the plan that placed it since
        self.before: Scan | None = None  # place_scan before the scan in hand
        self.delay_scan: Scan | None = None  # the scan whose delay is in force
        self.arrived_scan: Scan | None = None
        self.delivered_scan: Scan | None = None
        self.ret_rule: str | None = None
        self.ret_by: object = None

    def _plan_cause(self) -> Cause:
        return ("plan", self.plan_no)

    @property
    def why_status(self) -> Reason:
        if self.returning and self.st_by is not self.ret_by:
            return Reason(f"{self.st_rule} on the way back", _causes(self.ret_by, self.st_by))
        return Reason(self.st_rule, _causes(self.st_by))

    @property
    def why_transport(self) -> Reason:
        return Reason(self.tr_rule, _causes(self.tr_by))

    @property
    def why_misdirected(self) -> Reason:
        return Reason(self.mis_rule, _causes(self.mis_plan, self.mis_before, self.mis_by))

    @property
    def why_place(self) -> tuple[Cause, ...]:
        return _causes(self.place_scan, self.place_plan)

    @property
    def why_delay(self) -> tuple[Cause, ...]:
        return _causes(self.delay_scan)

    @property
    def why_returning(self) -> Reason | None:
        return None if self.ret_rule is None else Reason(self.ret_rule, _causes(self.ret_by))

    @property
    def why_arrived(self) -> tuple[Cause, ...]:
        return _causes(self.plan_no, self.arrived_scan)

    @property
    def why_delivered(self) -> tuple[Cause, ...]:
        return _causes(self.delivered_scan)

    def why_public_status(self) -> Reason:
        """The reason of ``public_status``, branch for branch."""
        if self.terminal:
            return self.why_status
        marks = list(self.customs.values())

        def citing(rule: str, states: set[CustomsStatus]) -> Reason:
            return Reason(rule, tuple(("customs", (m.entry_id, m.entry_version))
                                      for m in marks if m.status in states))

        states = {m.status for m in marks}
        if CustomsStatus.SEIZED in states:
            return citing("customs seized the goods", {CustomsStatus.SEIZED})
        if states & {CustomsStatus.HELD, CustomsStatus.REJECTED}:
            return citing("customs holds the goods", {CustomsStatus.HELD, CustomsStatus.REJECTED})
        if any(s.with_customs for s in states):
            return citing("customs has the goods", {s for s in states if s.with_customs})
        if self.status is Status.INFO_RECEIVED and CustomsStatus.RELEASED in states:
            return citing("cleared by customs before any scan", {CustomsStatus.RELEASED})
        return self.why_status


    def why_next_expected(self) -> Reason:
        """The reason of ``next_expected``, branch for branch."""
        plan, place = self._plan_cause(), self.why_place
        if self.terminal:
            return Reason("journey ended: nothing more expected", self.why_status.because)
        if self.returning:
            assert self.why_returning is not None
            return Reason("on its way back: the route no longer applies",
                          self.why_returning.because)
        if self.misdirected:
            return Reason("misdirected: nothing expected until re-routed",
                          self.why_misdirected.because)
        if not self.legs:
            return Reason("not routed", (plan,))
        phase = self.phase
        if phase is Phase.NONE:
            return Reason("received at the first leg's origin", (plan,))
        if phase is Phase.LAST_MILE:
            return Reason("last mile: delivered at the destination", (plan, *place))
        if self.leg is None:
            return Reason("on no leg of the route", (plan, *place))
        if phase in (Phase.ONBOARD, Phase.ARRIVED):
            return Reason("unloaded at the end of the leg it is on", (plan, *place))
        if self.leg + 1 < len(self.legs):
            return Reason("loaded onto the next leg", (plan, *place))
        return Reason("delivered at the destination after the last leg", (plan, *place))

    def why_eta(self, estimates: Sequence[Estimate] = ()) -> Reason:
        """The reason of ``eta``, branch for branch."""
        plan = self._plan_cause()
        if not self.legs:
            return Reason("not routed: no ETA", (plan,))
        if self.misdirected:
            return Reason("misdirected: no ETA until re-routed", self.why_misdirected.because)
        if self.returning:
            assert self.why_returning is not None
            return Reason("on its way back: no ETA", self.why_returning.because)
        if self.delivered_at is not None:
            return Reason("delivered: the time it was", self.why_delivered)
        if self.last_leg_arrived_at is not None:
            return Reason("arrived at the last leg's end", self.why_arrived)
        # Also what placed it on the route (an ETA only while not misdirected).
        on_route = self.why_misdirected.because
        end = self.legs[-1].to
        for i in range(len(estimates) - 1, -1, -1):
            estimate = estimates[i]
            if estimate.is_arrival and estimate.location == end:
                return Reason("carrier's estimate of arrival at the last leg's end",
                              (plan, *on_route, ("estimate", i)))
        return Reason("planned arrival shifted by observed delay",
                      (plan, *self.why_delay, *on_route))

    def explain(self, estimates: Sequence[Estimate] = ()) -> dict[str, Reason]:
        """Why each field of ``result`` is what it is."""
        last: tuple[Cause, ...] = (
            (("scan", self.last_scan.scan_id),) if self.last_scan else (("plan", 0),))
        return {
            "status": self.why_public_status(),
            "transport_status": self.why_transport,
            "routing_status": Reason("route's last leg against the destination",
                                     (self._plan_cause(),)),
            "last_location": Reason(
                "where the latest scan was" if self.last_scan else "nothing scanned yet", last),
            "next_expected": self.why_next_expected(),
            "eta": self.why_eta(estimates),
            "misdirected": self.why_misdirected,
        }


    # -- recording ---------------------------------------------------------------

    def _why_placed(self, rule: str) -> None:
        self.mis_rule, self.mis_plan, self.mis_before, self.mis_by = (
            rule, self.plan_no, self.place_scan, None)


    def _why_moved(self, scan: Scan, rule: str) -> None:
        self.st_rule = self.tr_rule = rule
        self.st_by = self.tr_by = scan

    def _why_returning(self, rule: str, by: object) -> None:
        self.ret_rule = self.st_rule = self.mis_rule = rule
        self.ret_by = self.st_by = self.mis_by = by
        self.mis_plan = self.mis_before = None

