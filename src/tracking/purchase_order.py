"""The PurchaseOrder aggregate: what a merchant ordered from a supplier for
one warehouse, what shipments carry for it (advance shipping notices), and
what was counted in (receipts).

An order's number is unique within its account (its id is derived from
both). Lines are SKUs with a quantity and the time they are needed by; they
can be amended or cancelled, one by one or all at once. A shipment may carry
lines of several orders, an order may ship in several shipments. Shipping
more than was ordered is accepted and flagged (a finding), never capped; a
receipt short, over or with damaged goods is a finding too. Findings are
events of their own, so the order's history says what was found and when.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate

from tracking.cargo import CarriedLine
from tracking.errors import InvalidInput, TrackingError
from tracking.identifiers import Locode, TrackingNumber
from tracking.occurred import WHEN_RECORDED
from tracking.order_line import (
    CountedLine,
    Finding,
    FindingKind,
    OrderLine,
    ShippedLine,
    check_lines,
    check_po_number,
    check_quantity,
    check_supplier,
)
from tracking.route import require_aware
from tracking.scan import Source

_NAMESPACE = uuid.UUID("5b0e7a3c-2f4d-4c61-9a8e-3d1f6b2c7e90")


def purchase_order_id(account: str, po_number: str) -> uuid.UUID:
    """One order per account and number, found without an index."""
    return uuid.uuid5(_NAMESPACE, f"{account}/{po_number}")


class PurchaseOrderNotFound(TrackingError, LookupError):
    """No order of that number in the account (or it is another account's:
    the same answer, so one merchant cannot learn another's numbers)."""

    def __init__(self, po_number: str) -> None:
        super().__init__(f"no purchase order {po_number}")
        self.po_number = po_number


class PurchaseOrderConflict(TrackingError):
    """An order number already placed with different contents, or a change
    the order's state does not allow (amending a cancelled order)."""


class PurchaseOrderState(msgspec.Struct, kw_only=True):
    """Everything a PurchaseOrder holds, as one value (the read model's replica)."""

    id: uuid.UUID
    version: int
    created_on: datetime
    modified_on: datetime
    account: str
    po_number: str
    supplier: str
    warehouse: Locode
    lines: dict[str, OrderLine]
    placed_at: datetime
    placed_by: Source
    cancelled: bool
    notices: dict[str, tuple[ShippedLine, ...]]
    receipts: dict[str, tuple[tuple[CountedLine, ...], datetime]]
    findings: list[Finding]


_STATE_FIELDS = tuple(
    f for f in PurchaseOrderState.__struct_fields__ if f not in ("id", "version", "created_on")
)


class PurchaseOrder(Aggregate):
    class Placed(Aggregate.Created):
        account: str
        po_number: str
        supplier: str
        warehouse: Locode
        lines: tuple[OrderLine, ...]
        placed_at: datetime
        source: Source

        @property
        def occurred_at(self) -> datetime:
            """When it happened: when the order was placed."""
            return self.placed_at

    class Amended(Aggregate.Event):
        """The order's lines as they now stand (what was ordered before stays
        in the history)."""

        lines: tuple[OrderLine, ...]
        source: Source

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            aggregate.lines = {line.sku: line for line in self.lines}

    class LinesCancelled(Aggregate.Event):
        skus: tuple[str, ...]
        source: Source

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            for sku in self.skus:
                aggregate.lines[sku] = msgspec.structs.replace(aggregate.lines[sku],
                                                               cancelled=True)

    class Cancelled(Aggregate.Event):
        source: Source

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            aggregate.cancelled = True
            for sku, line in list(aggregate.lines.items()):
                aggregate.lines[sku] = msgspec.structs.replace(line, cancelled=True)

    class ShipmentNotified(Aggregate.Event):
        """A shipment carries these quantities of the order (its advance
        shipping notice); a later notice for the same shipment replaces it."""

        tracking_number: TrackingNumber
        lines: tuple[ShippedLine, ...]
        source: Source

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            aggregate.notices[str(self.tracking_number)] = self.lines

    class GoodsReceived(Aggregate.Event):
        """What was counted in from one shipment, at the warehouse."""

        tracking_number: TrackingNumber
        lines: tuple[CountedLine, ...]
        received_at: datetime
        source: Source

        @property
        def occurred_at(self) -> datetime:
            """When it happened: when the goods were counted in."""
            return self.received_at

        def apply(self, aggregate: Any) -> None:
            aggregate.receipts[str(self.tracking_number)] = (self.lines, self.received_at)

    class FindingRecorded(Aggregate.Event):
        finding: Finding

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            aggregate.findings.append(self.finding)

    def __init__(self, account: str, po_number: str, supplier: str, warehouse: Locode,
                 lines: tuple[OrderLine, ...], placed_at: datetime, source: Source) -> None:
        self.account = account
        self.po_number = po_number
        self.supplier = supplier
        self.warehouse = warehouse
        self.lines: dict[str, OrderLine] = {line.sku: line for line in lines}
        self.placed_at = placed_at
        self.placed_by = source
        self.cancelled = False
        self.notices: dict[str, tuple[ShippedLine, ...]] = {}
        self.receipts: dict[str, tuple[tuple[CountedLine, ...], datetime]] = {}
        self.findings: list[Finding] = []

    @staticmethod
    def create_id(account: str, po_number: str, **_: Any) -> uuid.UUID:
        return purchase_order_id(account, po_number)

    @classmethod
    def place(cls, *, account: str, po_number: str, supplier: str, warehouse: Locode,
              lines: list[OrderLine], source: Source, at: datetime) -> PurchaseOrder:
        require_aware("placed_at", at)
        return cls._create(
            cls.Placed, account=account, po_number=check_po_number("po_number", po_number),
            supplier=check_supplier("supplier", supplier), warehouse=warehouse,
            lines=check_lines(lines), placed_at=at, source=source,
        )

    def state(self) -> PurchaseOrderState:
        values = {f: getattr(self, f) for f in _STATE_FIELDS}
        return PurchaseOrderState(id=self.id, version=self.version, created_on=self.created_on,
                                  **values)

    @classmethod
    def from_state(cls, state: PurchaseOrderState) -> PurchaseOrder:
        order = object.__new__(cls)
        order.__base_init__(state.id, state.version, state.created_on)
        for f in _STATE_FIELDS:
            setattr(order, f, getattr(state, f))
        order.lines, order.notices = dict(state.lines), dict(state.notices)
        order.receipts, order.findings = dict(state.receipts), list(state.findings)
        return order

    # -- queries -----------------------------------------------------------------

    def same_as(self, supplier: str, warehouse: Locode, lines: list[OrderLine]) -> bool:
        """Whether placing the order so again would repeat what is recorded."""
        return (self.supplier == " ".join(supplier.split()) and self.warehouse == warehouse
                and tuple(self.lines.values()) == tuple(lines))

    def carried_by(self, tracking_number: str) -> tuple[CarriedLine, ...]:
        """What the shipment carries of the open lines, until it is counted
        in (the shipment's cargo for this order, ``tracking.cargo``)."""
        if self.cancelled or tracking_number in self.receipts:
            return ()
        return tuple(CarriedLine(sku=s.sku, quantity=s.quantity,
                                 need_by=self.lines[s.sku].need_by,
                                 warehouse=str(self.warehouse))
                     for s in self.notices.get(tracking_number, ())
                     if not self.lines[s.sku].cancelled)

    def shipped(self, sku: str) -> int:
        return sum(s.quantity for lines in self.notices.values() for s in lines if s.sku == sku)

    # -- commands ----------------------------------------------------------------

    def amend(self, lines: list[OrderLine], source: Source) -> bool:
        """Replace the lines; False when they are the ones in force."""
        checked = check_lines(lines)
        self._require_open()
        if checked == tuple(self.lines.values()):
            return False
        kept = {line.sku for line in checked}
        for sku in sorted({s.sku for notice in self.notices.values() for s in notice} - kept):
            raise InvalidInput("lines", f"{sku} is on its way in a notified shipment: "
                                        "cancel the line instead of leaving it out")
        self.trigger_event(self.Amended, lines=checked, source=source)
        return True

    def cancel(self, skus: list[str] | None, source: Source) -> bool:
        """Cancel these lines, or the whole order when ``skus`` is None;
        False when they are cancelled already."""
        if skus is None:
            if self.cancelled:
                return False
            self.trigger_event(self.Cancelled, source=source)
            return True
        self._require_open()
        for i, sku in enumerate(skus):
            if sku not in self.lines:
                raise InvalidInput(f"skus[{i}]", f"{sku} is not a line of {self.po_number}")
        todo = tuple(dict.fromkeys(s for s in skus if not self.lines[s].cancelled))
        if not todo:
            return False
        self.trigger_event(self.LinesCancelled, skus=todo, source=source)
        return True

    def notify_shipment(self, tracking_number: TrackingNumber, lines: list[ShippedLine],
                        source: Source) -> bool:
        """Record what a shipment carries for this order; over-shipping is
        recorded and flagged. False when the same notice is recorded."""
        self._require_open()
        checked = self._shipped_lines(lines)
        tn = str(tracking_number)
        if self.notices.get(tn) == checked:
            return False
        if tn in self.receipts:
            raise PurchaseOrderConflict(
                f"{tracking_number} was already received for {self.po_number}: "
                "its notice can no longer change")
        self.trigger_event(self.ShipmentNotified, tracking_number=tracking_number,
                           lines=checked, source=source)
        for line in checked:
            ordered = self.lines[line.sku]
            over = self.shipped(line.sku) - ordered.quantity
            if over > 0:
                self._found(FindingKind.OVER_SHIPPED, line.sku, tn, over,
                            f"{self.shipped(line.sku)} of {line.sku} notified, "
                            f"{ordered.quantity} ordered")
        return True

    def receive(self, tracking_number: TrackingNumber, lines: list[CountedLine],
                received_at: datetime, source: Source, *, now: datetime) -> bool:
        """Record what was counted in from a notified shipment, with what was
        short, over or damaged against its notice. False when the same
        receipt is recorded; a different one for the same shipment is a
        conflict (the first count stands)."""
        require_aware("received_at", received_at)
        if received_at > now:
            raise InvalidInput("received_at", f"{received_at.isoformat()} is in the future")
        tn = str(tracking_number)
        notice = self.notices.get(tn)
        if notice is None:
            raise InvalidInput("tracking_number",
                               f"{tracking_number} carries nothing notified for {self.po_number}")
        checked = self._counted_lines(lines, {s.sku for s in notice})
        if tn in self.receipts:
            if self.receipts[tn] == (checked, received_at):
                return False
            raise PurchaseOrderConflict(
                f"a receipt of {tracking_number} is already recorded for {self.po_number}")
        self.trigger_event(self.GoodsReceived, tracking_number=tracking_number, lines=checked,
                           received_at=received_at, source=source)
        counted = {c.sku: c for c in checked}
        for shipped in notice:
            c = counted.get(shipped.sku)
            got = c.quantity if c else 0
            if got < shipped.quantity:
                self._found(FindingKind.SHORT, shipped.sku, tn, shipped.quantity - got,
                            f"{got} of {shipped.quantity} {shipped.sku} counted in")
            elif got > shipped.quantity:
                self._found(FindingKind.OVER, shipped.sku, tn, got - shipped.quantity,
                            f"{got} {shipped.sku} counted in, {shipped.quantity} notified")
            if c is not None and c.damaged:
                self._found(FindingKind.DAMAGED, shipped.sku, tn, c.damaged,
                            f"{c.damaged} of {got} {shipped.sku} damaged")
        return True

    # -- rules -------------------------------------------------------------------

    def _require_open(self) -> None:
        if self.cancelled:
            raise PurchaseOrderConflict(f"purchase order {self.po_number} is cancelled")

    def _shipped_lines(self, lines: list[ShippedLine]) -> tuple[ShippedLine, ...]:
        if not lines:
            raise InvalidInput("lines", "a notice needs at least one line")
        seen: set[str] = set()
        for i, line in enumerate(lines):
            check_quantity(f"lines[{i}].quantity", line.quantity)
            ordered = self.lines.get(line.sku)
            if ordered is None:
                raise InvalidInput(f"lines[{i}].sku",
                                   f"{line.sku} is not a line of {self.po_number}")
            if ordered.cancelled:
                raise InvalidInput(f"lines[{i}].sku", f"{line.sku} is cancelled")
            if line.sku in seen:
                raise InvalidInput(f"lines[{i}].sku", f"{line.sku} is on the notice twice")
            seen.add(line.sku)
        return tuple(lines)

    def _counted_lines(self, lines: list[CountedLine], notified: set[str]
                       ) -> tuple[CountedLine, ...]:
        if not lines:
            raise InvalidInput("lines", "a receipt needs at least one line")
        seen: set[str] = set()
        for i, line in enumerate(lines):
            check_quantity(f"lines[{i}].quantity", line.quantity, zero=True)
            check_quantity(f"lines[{i}].damaged", line.damaged, zero=True)
            if line.damaged > line.quantity:
                raise InvalidInput(f"lines[{i}].damaged", "cannot be more than the quantity")
            if line.sku not in notified:
                raise InvalidInput(f"lines[{i}].sku",
                                   f"{line.sku} was not notified on this shipment")
            if line.sku in seen:
                raise InvalidInput(f"lines[{i}].sku", f"{line.sku} is on the receipt twice")
            seen.add(line.sku)
        return tuple(lines)

    def _found(self, kind: FindingKind, sku: str, tn: str, quantity: int, detail: str) -> None:
        self.trigger_event(self.FindingRecorded, finding=Finding(
            kind=kind, sku=sku, tracking_number=tn, quantity=quantity, detail=detail))
