"""Shipment exceptions: what needs a person's attention, decided here once
for every reader (the exceptions view, the API, alerts).

Not Python exceptions: the contract's word for a shipment in trouble.
Each is open while its condition holds; the exceptions view records when
each was raised and cleared, and why.
"""

from __future__ import annotations

from enum import StrEnum

from tracking.cargo import OrderRisk
from tracking.cargo import risks as cargo_risks
from tracking.codes import ExceptionReason, ScanEvent, Status
from tracking.customs_status import CustomsStatus
from tracking.delivery import Delivery
from tracking.progress import planned_window
from tracking.shipment import Shipment


class ExceptionKind(StrEnum):
    _ignore_ = "kinds reason"
    MISDIRECTED = "MISDIRECTED"
    CUSTOMS_HOLD = "CUSTOMS_HOLD"
    CUSTOMS_REJECTED = "CUSTOMS_REJECTED"
    CUSTOMS_SEIZED = "CUSTOMS_SEIZED"
    DELIVERY_ATTEMPTED = "DELIVERY_ATTEMPTED"
    # One kind per reason an EXCEPTION scan may give, named after it: derived
    # from the reasons, never listed again, so that a reason added to the
    # contract is a kind at once (a scan the exceptions view could not file
    # would stop the projection at its position).
    kinds = vars()
    for reason in ExceptionReason:
        kinds[reason.name] = reason.value
    LATE = "LATE"
    STALLED = "STALLED"
    # A purchase order's line it carries may arrive after it is needed
    # (tracking.cargo): the same rule as the orders' view's at_risk.
    PO_AT_RISK = "PO_AT_RISK"


# The kind an EXCEPTION scan with this reason raises.
REASON_KINDS = {reason: ExceptionKind(reason.value) for reason in ExceptionReason}


def open_exceptions(shipment: Shipment, delivery: Delivery | None = None) -> dict[ExceptionKind, str]:
    """The exceptions open on a booked shipment now, each with why. None
    once it is delivered or returned: what is done needs no attention."""
    d = delivery or shipment.delivery()
    if d.status.is_terminal:
        return {}
    found: dict[ExceptionKind, str] = {}
    last = d.last_scan
    if d.misdirected and last is not None:
        found[ExceptionKind.MISDIRECTED] = (
            f"{last.event.value} at {last.location}"
            + (f" on {last.voyage}" if last.voyage else "")
            + ", where the route does not expect it"
        )
    if d.status is Status.DELIVERY_ATTEMPTED and last is not None:
        why = f" ({last.reason.value})" if last.reason else ""
        found[ExceptionKind.DELIVERY_ATTEMPTED] = f"delivery attempted at {last.location}{why}"
    if d.status is Status.EXCEPTION and last is not None and last.event is ScanEvent.EXCEPTION:
        assert last.reason is not None
        found[REASON_KINDS[last.reason]] = f"reported at {last.location} by {last.scan_id}"
    for mark in d.customs:
        kind = _CUSTOMS_KINDS.get(mark.status)
        if kind is not None:
            # Two entries in the same state (export and import) share one exception.
            found[kind] = "; ".join(filter(None, (found.get(kind), mark.describe())))
    deliver_by = shipment.booking.deliver_by if shipment.booking else None
    if deliver_by is not None and d.eta is not None and d.eta > deliver_by:
        found[ExceptionKind.LATE] = (
            f"ETA {d.eta.isoformat()} is after deliver_by {deliver_by.isoformat()}"
        )
    at_risk = order_risks(shipment, d)
    if at_risk:
        found[ExceptionKind.PO_AT_RISK] = "; ".join(r.describe() for r in at_risk)
    if shipment.stalled_since is not None:
        found[ExceptionKind.STALLED] = f"no scan since {shipment.stalled_since.isoformat()}"
    return found


_CUSTOMS_KINDS = {
    CustomsStatus.HELD: ExceptionKind.CUSTOMS_HOLD,
    CustomsStatus.REJECTED: ExceptionKind.CUSTOMS_REJECTED,
    CustomsStatus.SEIZED: ExceptionKind.CUSTOMS_SEIZED,
}


def order_risks(shipment: Shipment, delivery: Delivery | None = None) -> list[OrderRisk]:
    """The purchase order lines a booked shipment carries that it may
    arrive after (its ETA window's latest, as the tracking view shows it
    without a lane model: from the ETA to deliver_by); none once delivered
    or returned."""
    if not shipment.cargo:
        return []
    d = delivery or shipment.delivery()
    if d.status.is_terminal:
        return []
    deliver_by = shipment.require_booked().deliver_by
    window = planned_window(d.eta, deliver_by)
    return cargo_risks(str(shipment.tracking_number), shipment.cargo,
                       window.latest if window is not None else deliver_by)
