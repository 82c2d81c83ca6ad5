"""The documents readers get: the customer's tracking view (no personal
data) and the agent's full view. Built from a shipment by one function each,
so the live view, a rebuilt one and an ``as_of`` answer are the same shape
and the same values."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from tracking.account import DEFAULT_ACCOUNT
from tracking.booking import Recipient
from tracking.personal_data import SealedRecipient
from tracking.codes import ExceptionReason, RoutingStatus, ScanEvent, Status, TransportStatus
from tracking.customs import CustomsMark, CustomsStatus, HoldReason
from tracking.delivery import Delivery, Expected
from tracking.eta.model import ModelBook, shown_eta
from tracking.eta.window import EtaWindow, ShownEta, unmodelled
from tracking.exceptions import ExceptionKind, open_exceptions
from tracking.route import Leg
from tracking.scan import describe
from tracking.shipment import Shipment, ShipmentState


class EventLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    event: ScanEvent
    location: str
    occurred_at: datetime
    description: str
    voyage: str | None = None
    reason: ExceptionReason | None = None


class CustomsLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Where the shipment stands with one country's customs."""

    country: str
    status: CustomsStatus
    since: datetime
    hold_reason: HoldReason | None = None


class TrackingView(msgspec.Struct, kw_only=True):
    """GET /api/v1/track/{tracking_number}: what a customer sees."""

    tracking_number: str
    status: Status
    transport_status: TransportStatus
    routing_status: RoutingStatus
    last_location: str | None
    current_voyage: str | None
    misdirected: bool
    next_expected: Expected | None
    eta: datetime | None
    # Where the ETA may fall, how sure, and what it came from (tracking.eta.window).
    eta_window: EtaWindow | None = None
    delivered_at: datetime | None = None  # once delivered, when (and then eta is it)
    deliver_by: datetime | None
    origin: str
    destination: str
    carrier: str
    events: list[EventLine]
    customs: list[CustomsLine] = []


class OpenException(msgspec.Struct, kw_only=True):
    kind: ExceptionKind
    raised_at: datetime
    details: str


class ShipmentView(TrackingView, kw_only=True):
    """GET /api/v1/shipments/{tracking_number}: the agent's full view."""

    # As kept: sealed (plain only if booked before sealing); opened where it is shown.
    recipient: Recipient | SealedRecipient | None
    route: list[Leg]
    exceptions: list[OpenException]
    version: int
    booked_at: datetime
    updated_at: datetime
    customs_entries: list[UUID] = []  # GET /api/v1/customs-entries/{id}
    account: str = DEFAULT_ACCOUNT  # the merchant account the shipment belongs to
    personal_data_erased_at: datetime | None = None  # the recipient's data erased then


class ProjectedShipment(msgspec.Struct, kw_only=True):
    """What the status view keeps per shipment to go on applying events."""

    state: ShipmentState
    open: dict[ExceptionKind, OpenException] = {}
    # Resolved by an agent, their condition still on (projections.shipments).
    resolved: list[ExceptionKind] = []
    # What it adds to its warehouses' inbound, as last written (projections.inbound).
    inbound: list[tuple[str, str, str, str, int, int]] = []


def tracking_view(
    shipment: Shipment, delivery: Delivery, shown: ShownEta | None = None
) -> TrackingView:
    """``shown``: the ETA the shipments projection derived with the model in
    force; without it (an ``as_of`` answer), the plan's or carrier's."""
    booking = shipment.require_booked()
    return TrackingView(**_public_fields(shipment, delivery, booking.carrier, shown))


def shipment_view(
    shipment: Shipment, delivery: Delivery, exceptions: list[OpenException],
    shown: ShownEta | None = None,
) -> ShipmentView:
    booking = shipment.require_booked()
    return _shipment_view(shipment, _public_fields(shipment, delivery, booking.carrier, shown),
                          exceptions)


def both_views(
    shipment: Shipment, delivery: Delivery, exceptions: list[OpenException],
    shown: ShownEta | None = None,
) -> tuple[TrackingView, ShipmentView]:
    """The customer's view and the agent's at once, what they share (a line
    per event above all) worked out once: the shipments projection writes
    both for every shipment a batch touches."""
    fields = _public_fields(shipment, delivery, shipment.require_booked().carrier, shown)
    return TrackingView(**fields), _shipment_view(shipment, fields, exceptions)


def _shipment_view(shipment: Shipment, fields: dict[str, object],
                   exceptions: list[OpenException]) -> ShipmentView:
    booking = shipment.require_booked()
    assert shipment.booked_at is not None
    return ShipmentView(
        **fields,
        recipient=booking.recipient,
        route=list(shipment.route.legs),
        exceptions=exceptions,
        version=shipment.version,
        booked_at=shipment.booked_at,
        updated_at=shipment.modified_on,
        customs_entries=list(dict.fromkeys(m.entry_id for m in shipment.customs)),
        account=booking.account,
        personal_data_erased_at=shipment.personal_data_erased_at,
    )


def live_view(shipment: Shipment, models: ModelBook | None = None) -> ShipmentView:
    """The agent's view built straight from a shipment, not from the view's
    history (a write's answer, ``as_of``): each open exception was raised at
    the latest by the shipment's last event, so it carries that time; the
    ETA is the one the views show, with the lane model in force when that
    event was recorded (``models``)."""
    delivery = shipment.delivery()
    exceptions = [
        OpenException(kind=kind, raised_at=shipment.modified_on, details=details)
        for kind, details in open_exceptions(shipment, delivery).items()
    ]
    shown = (shown_eta(shipment, delivery, models.at(shipment.modified_on))
             if models is not None else None)
    return shipment_view(shipment, delivery, exceptions, shown)


def _public_fields(
    shipment: Shipment, d: Delivery, carrier: str, shown: ShownEta | None
) -> dict[str, object]:
    booking = shipment.require_booked()
    if shown is None:
        shown = unmodelled(shipment.route, d, shipment.estimates, booking.deliver_by)
    return {
        "tracking_number": str(shipment.tracking_number),
        "status": d.status,
        "transport_status": d.transport_status,
        "routing_status": d.routing_status,
        "last_location": d.last_location,
        "current_voyage": d.current_voyage,
        "misdirected": d.misdirected,
        "next_expected": d.next_expected,
        "eta": shown.eta,
        "eta_window": shown.window,
        "delivered_at": d.delivered_at,
        "deliver_by": booking.deliver_by,
        "origin": str(booking.origin),
        "destination": str(d.destination),
        "carrier": carrier,
        "events": [
            EventLine(
                event=s.event,
                location=str(s.location),
                occurred_at=s.occurred_at,
                description=describe(s),
                voyage=s.voyage,
                reason=s.reason,
            )
            for s in shipment.scans
        ],
        "customs": [_customs_line(m) for m in d.customs],
    }


def _customs_line(mark: CustomsMark) -> CustomsLine:
    return CustomsLine(
        country=str(mark.country), status=mark.status, since=mark.occurred_at,
        hold_reason=mark.hold_reason,
    )
