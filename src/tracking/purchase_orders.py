"""The purchase orders' application service: load an order (and the
shipment a notice names), call its command, save; over the one
``AggregateStore`` every service writes through (one log, one order of
events for every read model), built by the ``ShipmentService`` facade
beside the others as ``service.purchase_orders``.
"""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from datetime import datetime
from uuid import UUID

from tracking.errors import ShipmentNotFound
from tracking.identifiers import Locode, TrackingNumber, shipment_id
from tracking.outcomes import WriteResult
from tracking.order_line import CountedLine, OrderLine, ShippedLine
from tracking.purchase_order import (
    PurchaseOrder,
    PurchaseOrderConflict,
    PurchaseOrderNotFound,
    purchase_order_id,
)
from tracking.scan import Source
from tracking.shipment import Shipment
from tracking.unitofwork import AggregateStore, UnitOfWork, last_position

Clock = Callable[[], datetime]


class PurchaseOrders:
    def __init__(self, store: AggregateStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def place(self, *, account: str, po_number: str, supplier: str, warehouse: Locode,
              lines: list[OrderLine], source: Source) -> WriteResult:
        """Place an order. The same order again changes nothing; different
        contents under a number already placed raise PurchaseOrderConflict."""
        oid = purchase_order_id(account, po_number)
        now = self.clock()

        def command(unit: UnitOfWork) -> bool:
            found = unit.get(oid, PurchaseOrder)
            if found is not None:
                if found.same_as(supplier, warehouse, lines):
                    return False
                raise PurchaseOrderConflict(
                    f"purchase order {po_number} is already placed with other contents")
            unit.changed(PurchaseOrder.place(
                account=account, po_number=po_number, supplier=supplier,
                warehouse=warehouse, lines=lines, source=source, at=now))
            return True

        return self._write([oid], command, source)

    def amend(self, account: str, po_number: str, lines: list[OrderLine],
              source: Source) -> WriteResult:
        return self._on(account, po_number, lambda order: order.amend(lines, source), source)

    def cancel(self, account: str, po_number: str, skus: list[str] | None,
               source: Source) -> WriteResult:
        """Cancel these lines, or the whole order when ``skus`` is None."""
        return self._on(account, po_number, lambda order: order.cancel(skus, source), source)

    def notify_shipment(self, account: str, po_number: str, tracking_number: TrackingNumber,
                        lines: list[ShippedLine], source: Source) -> WriteResult:
        """Record what a booked shipment carries for the order. A shipment of
        another account than the order's is not found, as one never booked."""
        oid = purchase_order_id(account, po_number)
        sid = shipment_id(tracking_number)

        def command(unit: UnitOfWork) -> bool:
            order = _order(unit, oid, po_number)
            shipment = unit.get(sid, Shipment)
            if (shipment is None or shipment.booking is None
                    or shipment.booking.account != account):
                raise ShipmentNotFound(tracking_number)
            changed = order.notify_shipment(tracking_number, lines, source)
            if changed:
                unit.changed(order)
            return changed

        return self._write([oid, sid], command, source)

    def receive(self, account: str, po_number: str, tracking_number: TrackingNumber,
                lines: list[CountedLine], received_at: datetime, source: Source) -> WriteResult:
        """Record what was counted in from one of the order's shipments."""
        now = self.clock()
        return self._on(account, po_number, lambda order: order.receive(
            tracking_number, lines, received_at, source, now=now), source)

    def order(self, account: str, po_number: str) -> PurchaseOrder:
        """The order as it is now (for commands and its history; readers use
        the view)."""
        with self.store.lock:
            order = self.store.get(purchase_order_id(account, po_number), PurchaseOrder)
            if order is None:
                raise PurchaseOrderNotFound(po_number)
            return deepcopy(order)

    # -- loading and saving ------------------------------------------------------

    def _on(self, account: str, po_number: str,
            change: Callable[[PurchaseOrder], bool], source: Source) -> WriteResult:
        oid = purchase_order_id(account, po_number)

        def command(unit: UnitOfWork) -> bool:
            order = _order(unit, oid, po_number)
            changed = bool(change(order))
            if changed:
                unit.changed(order)
            return changed

        return self._write([oid], command, source)

    def _write(self, ids: list[UUID], command: Callable[[UnitOfWork], bool],
               source: Source) -> WriteResult:
        """Run the command; when it changed the order, write what each of its
        shipments now carries for it beside it, in the same unit."""

        def with_cargo(unit: UnitOfWork) -> bool:
            changed = command(unit)
            order = unit.get(ids[0], PurchaseOrder) if changed else None
            for tn in order.notices if order is not None else ():
                shipment = unit.get(shipment_id(tn), Shipment)
                if shipment is not None and shipment.carry(order.po_number,
                                                           order.carried_by(tn), source):
                    unit.changed(shipment)
            return changed

        recordings, changed = self.store.write(ids, with_cargo)
        return WriteResult(changed, last_position(recordings))


def _order(unit: UnitOfWork, order_id: UUID, po_number: str) -> PurchaseOrder:
    order = unit.get(order_id, PurchaseOrder)
    if order is None:
        raise PurchaseOrderNotFound(po_number)
    return order
