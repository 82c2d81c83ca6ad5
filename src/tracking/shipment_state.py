"""A Shipment's state as one value (``ShipmentState``): what a read model
keeps to go on applying events without replaying the stream, and the two
conversions between it and the aggregate (``tracking.shipment``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import msgspec

from tracking.booking import Booking
from tracking.cargo import CarriedLine
from tracking.carrier import Estimate
from tracking.customs_mark import CustomsMark
from tracking.identifiers import TrackingNumber
from tracking.route import Route, RoutePlan
from tracking.scan import Scan, Source
from tracking.subscription import Subscription

if TYPE_CHECKING:
    from tracking.shipment import Shipment


class ShipmentState(msgspec.Struct, kw_only=True):
    """Everything a Shipment holds, as one value: what a read model keeps to
    go on applying events without replaying the stream."""

    id: UUID
    version: int
    created_on: datetime
    modified_on: datetime
    tracking_number: TrackingNumber
    opened_by: Source
    booking: Booking | None
    booked_route: Route | None
    booked_at: datetime | None
    plans: list[RoutePlan]
    scans: list[Scan]
    stalled_since: datetime | None
    last_activity_at: datetime
    customs: list[CustomsMark] = []
    # Carrier updates (defaults: views projected before they existed load).
    estimates: list[Estimate] = []
    retracted: list[Scan] = []
    other_ids: list[str] = []
    # Recorded after the end (scan ids, customs mark keys): kept, not derived from.
    after_end: list[str] = []
    subscriptions: list[Subscription] = []
    personal_data_erased_at: datetime | None = None
    cargo: dict[str, tuple[CarriedLine, ...]] = {}  # per purchase order (tracking.cargo)


# The fields the aggregate holds as they are (the others are its base's).
_STATE_FIELDS = tuple(
    f for f in ShipmentState.__struct_fields__ if f not in ("id", "version", "created_on")
)


def snapshot(shipment: Shipment) -> ShipmentState:
    """The shipment's state as a value, sharing no list with it."""
    values = {f: getattr(shipment, f) for f in _STATE_FIELDS}
    # Its own lists, so the aggregate going on does not change the value.
    values = {f: sorted(v) if isinstance(v, set) else list(v) if isinstance(v, list) else v
              for f, v in values.items()}
    return ShipmentState(id=shipment.id, version=shipment.version,
                         created_on=shipment.created_on, **values)


def restore(cls: type[Shipment], state: ShipmentState) -> Shipment:
    """The shipment of that state, as if its events had been applied."""
    shipment = object.__new__(cls)
    shipment.__base_init__(state.id, state.version, state.created_on)
    for f in _STATE_FIELDS:
        value = getattr(state, f)
        setattr(shipment, f, list(value) if isinstance(value, list) else value)
    shipment.after_end = set(state.after_end)
    shipment.derivation = None
    shipment.scan_ids = {
        scan.scan_id for scan in (*state.scans, *state.retracted)
    } | set(state.other_ids)
    shipment.aliases = {
        scan.new_tracking_number for scan in (*state.scans, *state.retracted)
        if scan.new_tracking_number is not None
    }
    return shipment

