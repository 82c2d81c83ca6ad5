"""The purchase orders read model: each order as its events left it (what
its shipments carry among it), and what is known of
every shipment that matters to stock (its booking's lane and mode, when it
was received into the network, delivered and where, returned or lost).

It follows two aggregates' events: the orders' own, and the few shipment
events that move stock (Opened, Booked, Rerouted, and RECEIVED, DELIVERED,
RETURNED_TO_SENDER and LOST scans); every other shipment event is passed
over without a query. The two are kept apart and joined when read
(``projections.stock``), so a rebuild stream by stream, which meets an
order's events and its shipments' in any order, gives the same rows.
What is inbound per warehouse and day is summed where each shipment's ETA
is derived, in the shipments read model (``projections.inbound``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod

from projections.readmodel import BatchProjection, MemoryView, ReadModel, View
from projections.sql import SqlView, Writer, upsert
from tracking.lead_time import main_mode
from tracking.mapper import enc_hook
from tracking.purchase_order import PurchaseOrder, PurchaseOrderState
from tracking.shipment import Shipment
from tracking.stock import Carriage, move_of, on_its_way
from tracking.validation import RecordedDecoder

_encoder = msgspec.json.Encoder(enc_hook=enc_hook)
_state: RecordedDecoder[PurchaseOrderState] = RecordedDecoder(PurchaseOrderState)
_carriage: RecordedDecoder[Carriage] = RecordedDecoder(Carriage)


def decode_order(doc: bytes) -> PurchaseOrderState:
    return _state.decode(doc)


def decode_carriage(doc: bytes) -> Carriage:
    return _carriage.decode(doc)


class OrderRow(msgspec.Struct, kw_only=True):
    order_id: UUID
    account: str
    po_number: str
    supplier: str
    warehouse: str
    cancelled: bool
    updated_at: datetime
    position: int
    projected: bytes


class CarriageRow(msgspec.Struct, kw_only=True):
    shipment_id: UUID
    tracking_number: str
    origin: str | None
    destination: str | None
    delivered: bool
    on_its_way: bool  # neither delivered nor returned or lost: its notices are inbound
    position: int
    doc: bytes


class StockChanges(NamedTuple):
    orders: list[OrderRow]
    carriages: list[CarriageRow]


def _moves_stock(event: Any) -> bool:
    """Whether a shipment event changes what this read model keeps of it."""
    if isinstance(event, Shipment.ScanRecorded):
        return move_of(event.scan) is not None
    return isinstance(event, (Shipment.Opened, Shipment.Booked, Shipment.Rerouted,
                              Shipment.ScanRetracted))


class PurchaseOrdersProjection(BatchProjection["PurchaseOrdersView"]):
    def begin(self, events: Sequence[Any], *, fresh: bool) -> None:
        orders = [] if fresh else list({e.originator_id for e in events
                                        if isinstance(e, PurchaseOrder.Event)})
        shipments = [] if fresh else list({e.originator_id for e in events if _moves_stock(e)})
        self._orders: dict[UUID, tuple[PurchaseOrder, int]] = {
            oid: (PurchaseOrder.from_state(decode_order(doc)), 0)
            for oid, doc in self.view.projected(orders).items()
        }
        self._carriages: dict[UUID, tuple[Carriage, int]] = {
            sid: (decode_carriage(doc), 0) for sid, doc in self.view.carriages(shipments).items()
        }
        self._touched_orders: set[UUID] = set()
        self._touched_carriages: set[UUID] = set()

    @singledispatchmethod
    def process_event(self, event: Any, position: int) -> None:
        """Another aggregate's event: not this read model's concern."""

    @process_event.register
    def _order_event(self, event: PurchaseOrder.Event, position: int) -> None:
        found = self._orders.get(event.originator_id)
        if found is not None and event.originator_version <= found[0].version:
            return  # already applied
        order: Any = event.mutate(found[0] if found else None)
        self._orders[order.id] = (order, position)
        self._touched_orders.add(order.id)

    @process_event.register
    def _shipment_event(self, event: Shipment.Event, position: int) -> None:
        if not _moves_stock(event):
            return
        sid = event.originator_id
        found = self._carriages.get(sid)
        c = found[0] if found else Carriage(tracking_number="")
        if isinstance(event, Shipment.Opened):
            c.tracking_number = str(event.tracking_number)
        elif isinstance(event, Shipment.Booked):
            b = event.booking
            c.account, c.carrier = b.account, b.carrier
            c.origin, c.destination = str(b.origin), str(b.destination)
            c.mode = main_mode([leg.mode.value for leg in event.route.legs])
        elif isinstance(event, Shipment.Rerouted):
            c.destination = str(event.destination)
            c.mode = main_mode([leg.mode.value for leg in event.route.legs]) or c.mode
        elif isinstance(event, Shipment.ScanRetracted):
            # A retraction of a scan never recorded (RetractedEventRecorded)
            # moved nothing; one of a scan that moved stock undoes it.
            if not c.retract(event.retracted_id):
                return
        else:
            scan = event.scan  # type: ignore[attr-defined]
            if not c.tracking_number:
                c.tracking_number = str(scan.tracking_number)
            move = move_of(scan)
            if move is not None:  # (always: _moves_stock)
                c.moved(move)
        self._carriages[sid] = (c, position)
        self._touched_carriages.add(sid)

    def changes(self) -> StockChanges:
        return StockChanges(
            [_order_row(*self._orders[oid]) for oid in self._touched_orders],
            [_carriage_row(sid, *self._carriages[sid]) for sid in self._touched_carriages],
        )


def _order_row(order: PurchaseOrder, position: int) -> OrderRow:
    return OrderRow(
        order_id=order.id, account=order.account, po_number=order.po_number,
        supplier=order.supplier, warehouse=str(order.warehouse), cancelled=order.cancelled,
        updated_at=order.modified_on, position=position,
        projected=_encoder.encode(order.state()),
    )


def _carriage_row(sid: UUID, c: Carriage, position: int) -> CarriageRow:
    return CarriageRow(shipment_id=sid, tracking_number=c.tracking_number, origin=c.origin,
                       destination=c.destination, delivered=c.delivered_at is not None,
                       on_its_way=on_its_way(c),
                       position=position, doc=_encoder.encode(c))


class PurchaseOrdersView(View[StockChanges]):
    @abstractmethod
    def projected(self, order_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """The state of each of these orders (its document)."""

    @abstractmethod
    def carriages(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """What is kept of each of these shipments (its document)."""

    @abstractmethod
    def accounts_with(self, po_number: str) -> list[str]:
        """The accounts that have an order of this number."""

    @abstractmethod
    def orders(self, *, account: str | None, supplier: str | None = None,
               warehouse: str | None = None) -> list[bytes]:
        """Documents of the orders that match (None: any)."""

    @abstractmethod
    def deliveries(self, origin: str, destination: str) -> list[bytes]:
        """Documents of delivered shipments between places starting so (a
        UN/LOCODE, or its country's two letters)."""


class MemoryPurchaseOrdersView(MemoryView[StockChanges], PurchaseOrdersView):
    def _clear(self) -> None:
        self._orders: dict[UUID, OrderRow] = {}
        self._carriages: dict[UUID, CarriageRow] = {}

    def _write(self, changes: StockChanges) -> None:
        for row in changes.orders:
            self._orders[row.order_id] = row
        for c in changes.carriages:
            self._carriages[c.shipment_id] = c

    def projected(self, order_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        with self._lock:
            return {i: self._orders[i].projected for i in order_ids if i in self._orders}

    def carriages(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        with self._lock:
            return {i: self._carriages[i].doc for i in shipment_ids if i in self._carriages}

    def accounts_with(self, po_number: str) -> list[str]:
        with self._lock:
            return sorted(r.account for r in self._orders.values() if r.po_number == po_number)

    def orders(self, *, account: str | None, supplier: str | None = None,
               warehouse: str | None = None) -> list[bytes]:
        with self._lock:
            rows = sorted(self._orders.values(), key=lambda r: (r.account, r.po_number))
        return [r.projected for r in rows
                if (account is None or r.account == account)
                and (supplier is None or r.supplier == supplier)
                and (warehouse is None or r.warehouse == warehouse)]

    def deliveries(self, origin: str, destination: str) -> list[bytes]:
        with self._lock:
            rows = list(self._carriages.values())
        return [c.doc for c in rows if c.delivered and (c.origin or "").startswith(origin)
                and (c.destination or "").startswith(destination)]


_ORDER_COLUMNS = ("order_id", "account", "po_number", "supplier", "warehouse", "cancelled",
                  "updated_at", "position", "projected")
_UPSERT_ORDER = upsert("purchase_orders", _ORDER_COLUMNS, _ORDER_COLUMNS[3:])
_CARRIAGE_COLUMNS = ("shipment_id", "tracking_number", "origin", "destination", "delivered",
                     "on_its_way", "position", "doc")
_UPSERT_CARRIAGE = upsert("stock_shipments", _CARRIAGE_COLUMNS, _CARRIAGE_COLUMNS[1:])


class SqlPurchaseOrdersView(SqlView[StockChanges], PurchaseOrdersView):
    tables = {
        "purchase_orders": (
            "order_id {uuid} PRIMARY KEY, account {text} NOT NULL, po_number {text} NOT NULL, "
            "supplier {text} NOT NULL, warehouse {text} NOT NULL, cancelled {bool} NOT NULL, "
            "updated_at {time} NOT NULL, position {int} NOT NULL, projected {bytes} NOT NULL"
        ),
        # (was stock_carriages: a new name, so a store of the old layout,
        # without on_its_way, is projected again from the log)
        "stock_shipments": (
            "shipment_id {uuid} PRIMARY KEY, tracking_number {text} NOT NULL, origin {text}, "
            "destination {text}, delivered {bool} NOT NULL, on_its_way {bool} NOT NULL, "
            "position {int} NOT NULL, doc {bytes} NOT NULL"
        ),
    }
    indexes = (
        "CREATE INDEX IF NOT EXISTS purchase_orders_by_number ON purchase_orders (po_number)",
        "CREATE INDEX IF NOT EXISTS purchase_orders_by_supplier ON purchase_orders (supplier)",
        "CREATE INDEX IF NOT EXISTS stock_shipments_delivered "
        "ON stock_shipments (origin, destination) WHERE delivered",
    )

    def _write(self, w: Writer, changes: StockChanges) -> None:
        db = self.db
        orders = changes.orders
        w.executemany(_UPSERT_ORDER, [
            (db.key(r.order_id), r.account, r.po_number, r.supplier, r.warehouse, r.cancelled,
             db.time(r.updated_at), r.position, r.projected) for r in orders])
        w.executemany(_UPSERT_CARRIAGE, [
            (db.key(c.shipment_id), c.tracking_number, c.origin, c.destination, c.delivered,
             c.on_its_way, c.position, c.doc) for c in changes.carriages])

    def projected(self, order_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        if not order_ids:
            return {}
        rows = self.db.select_keys(
            "SELECT order_id, projected FROM purchase_orders WHERE order_id {keys}", order_ids)
        return {self.db.read_key(k): bytes(doc) for k, doc in rows}

    def carriages(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        if not shipment_ids:
            return {}
        rows = self.db.select_keys(
            "SELECT shipment_id, doc FROM stock_shipments WHERE shipment_id {keys}", shipment_ids)
        return {self.db.read_key(k): bytes(doc) for k, doc in rows}

    def accounts_with(self, po_number: str) -> list[str]:
        rows = self.db.query("SELECT account FROM purchase_orders WHERE po_number = ? "
                             "ORDER BY account", (po_number,))
        return [r[0] for r in rows]

    def orders(self, *, account: str | None, supplier: str | None = None,
               warehouse: str | None = None) -> list[bytes]:
        wanted = {"account": account, "supplier": supplier, "warehouse": warehouse}
        clauses = [f"{column} = ?" for column, value in wanted.items() if value is not None]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.query(
            f"SELECT projected FROM purchase_orders{where} "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            "ORDER BY account, po_number", [v for v in wanted.values() if v is not None])
        return [bytes(r[0]) for r in rows]

    def deliveries(self, origin: str, destination: str) -> list[bytes]:
        rows = self.db.query(
            "SELECT doc FROM stock_shipments WHERE delivered AND origin LIKE ? "
            "AND destination LIKE ?", (f"{origin}%", f"{destination}%"))
        return [bytes(r[0]) for r in rows]


READ_MODEL = ReadModel("purchase_orders", PurchaseOrdersProjection,
                       memory=MemoryPurchaseOrdersView, sql=SqlPurchaseOrdersView)
