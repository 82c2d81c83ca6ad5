"""Lanes and journeys: what the ETA model learns from and predicts for.

A lane is where a shipment goes and how: origin and destination UN/LOCODE,
the mode of its main leg (the one planned longest) and the booking's
carrier. A lane with too few deliveries borrows from the wider lanes it
belongs to (``Lane.keys``): the same country pair and mode, then the mode.

A journey is the times a shipment reached each stage (milestone) of its
way, read from its scans and customs marks, in ``occurred_at`` time (what
happened, not when we heard of it), with its planned arrival and, once
delivered, when. Each stage reached gives the model one duration: from
that stage to the delivery. ``PLAN`` is the booking's stage: its time is
the route's planned arrival, so its duration is how late the plan was.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum

import msgspec

from tracking.codes import ScanEvent, TransportMode
from tracking.customs import CustomsStatus
from tracking.delivery import Delivery
from tracking.shipment import Shipment


class Stage(IntEnum):
    """Stages in journey order; a journey is at the last one it reached."""

    PLAN = 0
    RECEIVED = 1
    DEPARTED_ORIGIN = 2
    ARRIVED_DESTINATION_COUNTRY = 3
    CUSTOMS_HOLD = 4
    CUSTOMS_RELEASED = 5
    OUT_FOR_DELIVERY = 6


class Lane(msgspec.Struct, frozen=True, gc=False):
    origin: str
    destination: str
    mode: TransportMode
    carrier: str

    def keys(self) -> tuple[str, str, str]:
        """The lane, its country pair and mode, its mode: narrowest first."""
        mode = self.mode.value
        return (f"lane {self.origin} {self.destination} {mode} {self.carrier}",
                f"pair {self.origin[:2]} {self.destination[:2]} {mode}",
                f"mode {mode}")

    def matches(self, *, origin: str | None, destination: str | None, mode: str | None,
                carrier: str | None) -> bool:
        return ((origin is None or origin == self.origin)
                and (destination is None or destination == self.destination)
                and (mode is None or mode == self.mode.value)
                and (carrier is None or carrier == self.carrier))


class Journey(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    lane: Lane
    planned_at: datetime  # the route's planned arrival at its end
    stages: tuple[tuple[Stage, datetime], ...]  # reached, in stage order (PLAN first)
    last_at: datetime | None  # the latest scan or customs report, when it happened
    delivered_at: datetime | None
    deliver_by: datetime | None

    @property
    def current(self) -> tuple[Stage, datetime]:
        return self.stages[-1]


_LAST_MILE = {ScanEvent.OUT_FOR_DELIVERY, ScanEvent.DELIVERY_ATTEMPTED,
              ScanEvent.READY_FOR_PICKUP, ScanEvent.DELIVERED}
_HELD = {CustomsStatus.HELD, CustomsStatus.REJECTED}


def lane_of(shipment: Shipment) -> Lane | None:
    booking = shipment.booking
    legs = shipment.route.legs if booking is not None else ()
    if booking is None or not legs:
        return None
    main = max(legs, key=lambda leg: leg.arrives_at - leg.departs_at)
    return Lane(str(booking.origin), str(shipment.destination), main.mode, booking.carrier)


def journey_of(shipment: Shipment, delivery: Delivery) -> Journey | None:
    """The journey so far of a booked, routed shipment (None otherwise)."""
    lane = lane_of(shipment)
    if lane is None:
        return None
    booking = shipment.require_booked()
    origin, country = lane.origin, lane.destination[:2]
    border = origin[:2] != country
    at: dict[Stage, datetime] = {}
    last: datetime | None = None

    def reach(stage: Stage, when: datetime) -> None:
        if stage not in at or when < at[stage]:
            at[stage] = when

    for scan in shipment.counted_scans():
        when = scan.occurred_at
        last = when if last is None or when > last else last
        reach(Stage.RECEIVED, when)
        location = str(scan.location)
        if scan.event is ScanEvent.DEPARTED or location != origin:
            reach(Stage.DEPARTED_ORIGIN, when)
        if border and location[:2] == country:
            reach(Stage.ARRIVED_DESTINATION_COUNTRY, when)
        if scan.event in _LAST_MILE:
            reach(Stage.OUT_FOR_DELIVERY, when)
    for mark in shipment.counted_customs():
        if str(mark.country) != country:
            continue
        when = mark.occurred_at
        if mark.status is CustomsStatus.DECLARED:
            continue  # paperwork, not where the goods are
        last = when if last is None or when > last else last
        if mark.status in _HELD:
            reach(Stage.CUSTOMS_HOLD, when)
        elif mark.status is CustomsStatus.RELEASED:
            reach(Stage.CUSTOMS_RELEASED, when)
    planned = shipment.route.legs[-1].arrives_at
    stages = ((Stage.PLAN, planned), *sorted(at.items()))
    return Journey(lane=lane, planned_at=planned, stages=stages, last_at=last,
                   delivered_at=delivery.delivered_at, deliver_by=booking.deliver_by)


def known_before(journey: Journey, t: datetime) -> Journey | None:
    """The journey as it stood at ``t`` (what had happened by then): for a
    backtest. None when it was not under way yet (nothing before ``t``
    except the plan) or already delivered."""
    if journey.delivered_at is not None and journey.delivered_at <= t:
        return None
    stages = tuple(s for s in journey.stages if s[0] is Stage.PLAN or s[1] <= t)
    last = max((when for stage, when in stages if stage is not Stage.PLAN), default=None)
    return msgspec.structs.replace(journey, stages=stages, last_at=last, delivered_at=None)
