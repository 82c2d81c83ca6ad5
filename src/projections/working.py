"""One shipment as the shipments projection holds it while a batch is
applied (``projections.shipments``): its replica, its open exceptions and
those an agent resolved, its delivery as last derived and its part of the
inbound sums (``projections.inbound``); and how it is restored from the
document the view keeps of it."""

from __future__ import annotations

from typing import Any

from projections import inbound
from projections.views import OpenException, ProjectedShipment
from tracking.delivery import Delivery
from tracking.exceptions import ExceptionKind
from tracking.inbound import Sums
from tracking.shipment import Shipment
from tracking.validation import RecordedDecoder

_projected: RecordedDecoder[ProjectedShipment] = RecordedDecoder(ProjectedShipment)


class Working:
    """One shipment while a batch is being applied."""

    __slots__ = ("shipment", "open", "position", "delivery", "resolved", "inbound")

    def __init__(self, shipment: Shipment, open_: dict[Any, OpenException], position: int,
                 resolved: set[ExceptionKind] | None = None, part: Sums | None = None) -> None:
        self.shipment = shipment
        self.inbound = part or {}  # its part of the inbound sums, as last written
        self.open = open_
        self.position = position
        # Resolved by an agent while their condition goes on: not raised again.
        self.resolved = resolved or set()
        # Derived after the last event applied (once booked, every event is judged).
        self.delivery: Delivery | None = None


def restore(doc: bytes) -> Working:
    projected = _projected.decode(doc)
    return Working(Shipment.from_state(projected.state), dict(projected.open), 0,
                   set(projected.resolved), inbound.decode(projected.inbound))
