"""The purchase orders' application service: load an order (and the
shipment a notice names), call its command, save.

It works over the shipment service's event store, cache and write lock
(one log, one order of events for every read model), through the same
load -> command -> save with retries that every write takes; it holds no
state of its own, so it ports as is when that service is split.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from tracking.application import ShipmentService, WriteResult, _last_position
from tracking.errors import ShipmentNotFound
from tracking.identifiers import Locode, TrackingNumber, shipment_id
from tracking.purchase_order import (
    CountedLine,
    OrderLine,
    PurchaseOrder,
    PurchaseOrderConflict,
    PurchaseOrderNotFound,
    ShippedLine,
    purchase_order_id,
)
from tracking.scan import Source


class PurchaseOrderService:
    def __init__(self, app: ShipmentService) -> None:
        self.app = app

    def place(self, *, account: str, po_number: str, supplier: str, warehouse: Locode,
              lines: list[OrderLine], source: Source) -> WriteResult:
        """Place an order. The same order again changes nothing; different
        contents under a number already placed raise PurchaseOrderConflict."""
        oid = purchase_order_id(account, po_number)
        now = self.app.clock()

        def command(loaded: dict[UUID, Any]) -> tuple[list[Any], bool]:
            found: PurchaseOrder | None = loaded[oid]
            if found is not None:
                if found.same_as(supplier, warehouse, lines):
                    return [], False
                raise PurchaseOrderConflict(
                    f"purchase order {po_number} is already placed with other contents")
            order = PurchaseOrder.place(account=account, po_number=po_number, supplier=supplier,
                                        warehouse=warehouse, lines=lines, source=source, at=now)
            return [order], True

        return self._write([oid], command)

    def amend(self, account: str, po_number: str, lines: list[OrderLine],
              source: Source) -> WriteResult:
        return self._on(account, po_number, lambda order: order.amend(lines, source))

    def cancel(self, account: str, po_number: str, skus: list[str] | None,
               source: Source) -> WriteResult:
        """Cancel these lines, or the whole order when ``skus`` is None."""
        return self._on(account, po_number, lambda order: order.cancel(skus, source))

    def notify_shipment(self, account: str, po_number: str, tracking_number: TrackingNumber,
                        lines: list[ShippedLine], source: Source) -> WriteResult:
        """Record what a booked shipment carries for the order. A shipment of
        another account than the order's is not found, as one never booked."""
        oid = purchase_order_id(account, po_number)
        sid = shipment_id(tracking_number)

        def command(loaded: dict[UUID, Any]) -> tuple[list[Any], bool]:
            order = _order(loaded[oid], po_number)
            shipment = loaded[sid]
            if (shipment is None or shipment.booking is None
                    or shipment.booking.account != account):
                raise ShipmentNotFound(tracking_number)
            changed = order.notify_shipment(tracking_number, lines, source)
            return ([order] if changed else []), changed

        return self._write([oid, sid], command)

    def receive(self, account: str, po_number: str, tracking_number: TrackingNumber,
                lines: list[CountedLine], received_at: datetime, source: Source) -> WriteResult:
        """Record what was counted in from one of the order's shipments."""
        now = self.app.clock()
        return self._on(account, po_number, lambda order: order.receive(
            tracking_number, lines, received_at, source, now=now))

    def order(self, account: str, po_number: str) -> PurchaseOrder:
        """The order as it is now (for commands and its history; readers use
        the view)."""
        with self.app._lock:
            return _order(self.app._read(purchase_order_id(account, po_number)), po_number)

    # -- loading and saving ------------------------------------------------------

    def _on(self, account: str, po_number: str,
            change: Callable[[PurchaseOrder], bool]) -> WriteResult:
        oid = purchase_order_id(account, po_number)

        def command(loaded: dict[UUID, Any]) -> tuple[list[Any], bool]:
            order = _order(loaded[oid], po_number)
            changed = bool(change(order))
            return ([order] if changed else []), changed

        return self._write([oid], command)

    def _write(self, ids: list[UUID], command: Any) -> WriteResult:
        recordings, changed = self.app._write(ids, command)
        return WriteResult(changed, _last_position(recordings))


def _order(found: Any, po_number: str) -> PurchaseOrder:
    if not isinstance(found, PurchaseOrder):
        raise PurchaseOrderNotFound(po_number)
    return found
