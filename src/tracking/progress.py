"""The journey's milestones as a customer reads them, and the window the
parcel is planned to arrive in: judged here, once, from what the tracking
view says (its status, events and customs lines), so every page and
message shows the same progress.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import msgspec

from tracking.codes import ScanEvent, Status
from tracking.customs_status import CustomsStatus


class Milestone(StrEnum):
    BOOKED = "BOOKED"
    RECEIVED = "RECEIVED"
    DEPARTED_ORIGIN = "DEPARTED_ORIGIN"
    ARRIVED_DESTINATION_COUNTRY = "ARRIVED_DESTINATION_COUNTRY"
    CUSTOMS = "CUSTOMS"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"


class Seen(msgspec.Struct, frozen=True, gc=False):
    """One event of the view: what happened, where (a UN/LOCODE), when."""

    event: ScanEvent
    location: str
    occurred_at: datetime


class Step(msgspec.Struct, frozen=True, gc=False):
    milestone: Milestone
    reached: bool
    current: bool = False
    at: datetime | None = None  # when it was reached, where an event says


class Window(msgspec.Struct, frozen=True, gc=False):
    """Planned arrival: from the most likely time to the latest promised."""

    earliest: datetime
    latest: datetime
    late: bool  # the most likely time is after the promised one


_LAST_MILE = {ScanEvent.OUT_FOR_DELIVERY, ScanEvent.DELIVERY_ATTEMPTED,
              ScanEvent.READY_FOR_PICKUP, ScanEvent.DELIVERED}
_CLEARED = {CustomsStatus.RELEASED}
_AT_CUSTOMS = {Status.IN_CUSTOMS, Status.CUSTOMS_HOLD}


def milestones(
    status: Status,
    origin: str,
    destination: str,
    events: Sequence[Seen],
    customs: Sequence[tuple[str, CustomsStatus]] = (),
) -> list[Step]:
    """Each milestone, reached or not, in journey order; the last reached is
    current. Customs is a step only when the parcel crosses a border. A
    milestone reached implies those before it (a scan can be missed; a
    parcel out for delivery has left its origin)."""
    border = origin[:2] != destination[:2]
    order = [m for m in Milestone if border or m is not Milestone.CUSTOMS]
    at: dict[Milestone, datetime | None] = {Milestone.BOOKED: None}

    def reach(m: Milestone, when: datetime | None) -> None:
        if m in order and (m not in at or (when and (at[m] is None or when < at[m]))):  # type: ignore[operator]
            at[m] = when

    for e in sorted(events, key=lambda e: e.occurred_at):
        reach(Milestone.RECEIVED, e.occurred_at)
        if e.event is ScanEvent.DEPARTED or e.location != origin:
            reach(Milestone.DEPARTED_ORIGIN, e.occurred_at)
        if border and e.location[:2] == destination[:2]:
            reach(Milestone.ARRIVED_DESTINATION_COUNTRY, e.occurred_at)
        if e.event in _LAST_MILE:
            reach(Milestone.OUT_FOR_DELIVERY, e.occurred_at)
        if e.event is ScanEvent.DELIVERED:
            reach(Milestone.DELIVERED, e.occurred_at)
    for country, state in customs:
        if country == destination[:2]:
            reach(Milestone.ARRIVED_DESTINATION_COUNTRY, None)
            if state in _CLEARED:
                reach(Milestone.CUSTOMS, None)
    if status in _AT_CUSTOMS:
        reach(Milestone.ARRIVED_DESTINATION_COUNTRY, None)
    if status is Status.DELIVERED:
        reach(Milestone.DELIVERED, None)
    last = current = max(order.index(m) for m in at)
    with_customs = status in _AT_CUSTOMS and Milestone.CUSTOMS in order
    if with_customs:  # that step is where it is now, not yet passed
        current = order.index(Milestone.CUSTOMS)
        last = max(last, current - 1)
    return [
        Step(m, reached, i == current, at.get(m) if reached else None)
        for i, m in enumerate(order)
        for reached in [i <= last and not (with_customs and m is Milestone.CUSTOMS)]
    ]


def planned_window(eta: datetime | None, deliver_by: datetime | None) -> Window | None:
    """From the ETA to the promised date (the booking's deliver_by); the ETA
    alone when nothing was promised. None without an ETA."""
    if eta is None:
        return None
    if deliver_by is None:
        return Window(eta, eta, late=False)
    return Window(min(eta, deliver_by), max(eta, deliver_by), late=eta > deliver_by)
