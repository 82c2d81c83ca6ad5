"""Reading stock: the purchase orders' view joined, when read, with the
shipments' view for each carrying shipment's ETA and window (the same ETA
every other view shows). The rules are the domain's (``tracking.stock``,
``tracking.lead_time``); this module only gathers what they need.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec

from projections.purchase_orders import PurchaseOrdersView, decode_carriage, decode_order
from projections.shipments import ShipmentsView
from projections.warehouses import WarehousesView
from tracking.errors import InvalidInput
from tracking.identifiers import Locode, shipment_id
from tracking.lead_time import LaneOption, ReorderPoint, Spread, in_days, lane_options, spread
from tracking.lead_time import reorder_point as reorder_point_of
from tracking.order_line import Finding
from tracking.purchase_order import PurchaseOrderNotFound, PurchaseOrderState, purchase_order_id
from tracking.warehouse import resolve
from tracking.stock import (
    Carriage,
    InboundDay,
    LineProgress,
    line_progress,
    on_its_way,
)

MAX_DAYS = 366


class _Window(msgspec.Struct, gc=False):
    latest: datetime | None = None


class _Eta(msgspec.Struct, gc=False):
    """What a shipment's agent view says of when it arrives."""

    eta: datetime | None = None
    deliver_by: datetime | None = None
    eta_window: _Window | None = None


_eta = msgspec.json.Decoder(_Eta)


class PurchaseOrderOut(msgspec.Struct, kw_only=True):
    """GET /api/v1/purchase-orders/{po_number}."""

    po_number: str
    account: str
    supplier: str
    warehouse: str
    warehouse_name: str | None  # the account's name for the warehouse, if it named it
    cancelled: bool
    placed_at: datetime
    at_risk: bool
    lines: list[LineProgress]
    findings: list[Finding]
    version: int
    updated_at: datetime


class InboundOut(msgspec.Struct, kw_only=True):
    """GET /api/v1/inventory/inbound."""

    warehouse: str
    warehouse_name: str | None
    sku: str | None
    start: date
    end: date
    days: list[InboundDay]
    unscheduled: int  # on its way with no ETA yet


class Delivery(msgspec.Struct, kw_only=True):
    """One shipment's part of an order line, received (counted, or delivered
    at the warehouse): what lead times are measured from."""

    po_number: str
    tracking_number: str
    sku: str
    supplier: str
    origin: str | None
    warehouse: str
    warehouse_name: str | None
    mode: str | None
    placed_at: datetime
    shipped_at: datetime | None  # the shipment's first RECEIVED scan
    received_at: datetime
    need_by: datetime
    on_time: bool
    lead_time_days: float  # from the order placed to received
    transit_days: float | None  # from the shipment received into the network


class Performance(msgspec.Struct, kw_only=True):
    origin: str | None
    warehouse: str | None
    mode: str | None
    n: int
    on_time_rate: float | None
    lead_time: Spread  # days, order placed -> received
    transit_time: Spread  # days, shipment received into the network -> received


class SupplierOut(Performance, kw_only=True):
    """GET /api/v1/suppliers/{supplier}/performance: ``origin``, ``warehouse``
    and ``mode`` are null over all lanes; ``lanes`` has each one."""

    supplier: str
    lanes: list[Performance]
    deliveries: list[Delivery]


class ReorderOut(msgspec.Struct, kw_only=True):
    """GET /api/v1/inventory/reorder-point: null figures without a delivery."""

    warehouse: str
    sku: str
    daily_demand: float
    demand_sd: float
    service_level: float
    result: ReorderPoint | None
    deliveries: list[Delivery]


class LanesOut(msgspec.Struct, kw_only=True):
    origin: str
    destination: str
    need_by: datetime | None
    options: list[LaneOption]


class StockReader:
    def __init__(self, orders: PurchaseOrdersView, shipments: ShipmentsView,
                 clock: Callable[[], datetime], warehouses: WarehousesView | None = None) -> None:
        self.view = orders
        self.shipments = shipments
        self.clock = clock
        self.warehouses = warehouses  # None: no names (warehouses are shown by LOCODE)

    def names(self, account: str | None) -> dict[tuple[str, str], str]:
        """(account, LOCODE): the name the account gave the warehouse there."""
        return self.warehouses.names(account) if self.warehouses is not None else {}

    def warehouse(self, text: str, account: str | None, field: str = "warehouse") -> Locode:
        """The LOCODE a ``warehouse`` query means: a LOCODE, or the name of
        one of the account's warehouses (for those who see every account, a
        name only one LOCODE has)."""
        named: dict[str, set[Locode]] = {}
        for (_, locode), name in self.names(account).items():
            named.setdefault(name, set()).add(Locode(locode))
        clash = named.get(" ".join(text.split()), set())
        if len(clash) > 1:
            raise InvalidInput(field, f"{text!r} names warehouses of several accounts at "
                                      f"{', '.join(sorted(clash))}: give the LOCODE")
        return resolve({n: next(iter(at)) for n, at in named.items()}, text, field)

    def name_of(self, locode: str, account: str | None) -> str | None:
        """The warehouse's name at ``locode`` (for every account: when they agree)."""
        found = {n for (_, at), n in self.names(account).items() if at == locode}
        return found.pop() if len(found) == 1 else None

    def account_of(self, po_number: str, account: str | None) -> str:
        """The account whose order of this number is meant: the merchant's
        own, or for those who see every account (``account`` None) the one
        account that has it."""
        if account is not None:
            return account
        found = self.view.accounts_with(po_number)
        if len(found) != 1:  # several accounts' orders share a number: say which (?account=)
            raise PurchaseOrderNotFound(po_number)
        return found[0]

    def carriages(self, tracking_numbers: Iterable[str],
                  ids: dict[UUID, str] | None = None) -> dict[str, Carriage]:
        """What is known of these shipments (``ids``: their ids, when known),
        with the ETA and latest of those still on their way, read from the
        shipments' view in one query."""
        if ids is None:
            ids = {shipment_id(tn): tn for tn in tracking_numbers}
        found = {tn: Carriage(tracking_number=tn) for tn in ids.values()}
        for sid, doc in self.view.carriages(list(ids)).items():
            found[ids[sid]] = decode_carriage(doc)
        moving = [sid for sid, tn in ids.items() if on_its_way(found[tn])]
        for sid, c in self.etas(moving).items():
            found[ids[sid]].eta, found[ids[sid]].latest = c.eta, c.latest
        return found

    def etas(self, shipment_ids: Collection[UUID]) -> dict[UUID, Carriage]:
        """Each shipment's ETA and latest (the window's, else the ETA, else
        its deliver-by) as the shipments' view shows them, in one query."""
        found = {sid: Carriage(tracking_number="") for sid in shipment_ids}
        for sid, _, view in self.shipments.public_views_since(-1, list(found)):
            c, e = found[sid], _eta.decode(view)
            c.eta = e.eta
            window = e.eta_window.latest if e.eta_window is not None else None
            c.latest = window or e.eta or e.deliver_by
        return found

    def order(self, account: str, po_number: str) -> PurchaseOrderOut:
        docs = self.view.projected([purchase_order_id(account, po_number)])
        if not docs:
            raise PurchaseOrderNotFound(po_number)
        return self.out(decode_order(next(iter(docs.values()))))

    def orders(self, *, account: str | None, supplier: str | None, warehouse: str | None,
               at_risk: bool | None, limit: int, offset: int) -> list[PurchaseOrderOut]:
        """Orders that match, those at risk first, then by account and number."""
        states = [decode_order(d) for d in self.view.orders(
            account=account, supplier=supplier, warehouse=warehouse)]
        carriages = self.carriages({tn for o in states for tn in o.notices})
        names = self.names(account)
        found = [self.out(o, carriages, names) for o in states]
        if at_risk is not None:
            found = [o for o in found if o.at_risk is at_risk]
        found.sort(key=lambda o: (not o.at_risk, o.account, o.po_number))
        return found[offset : offset + limit]

    def out(self, o: PurchaseOrderState, carriages: dict[str, Carriage] | None = None,
            names: dict[tuple[str, str], str] | None = None) -> PurchaseOrderOut:
        if carriages is None:
            carriages = self.carriages(o.notices)
        if names is None:
            names = self.names(o.account)
        lines = [line_progress(line, str(o.warehouse), o.notices, o.receipts, carriages)
                 for line in o.lines.values()]
        return PurchaseOrderOut(
            po_number=o.po_number, account=o.account, supplier=o.supplier,
            warehouse=str(o.warehouse), warehouse_name=names.get((o.account, str(o.warehouse))),
            cancelled=o.cancelled, placed_at=o.placed_at,
            at_risk=any(line.at_risk for line in lines), lines=lines,
            findings=list(o.findings), version=o.version, updated_at=o.modified_on)

    def inbound(self, *, warehouse: str, sku: str | None, days: int,
                account: str | None) -> InboundOut:
        """From the sums the shipments view keeps per day (``projections.inbound``):
        as many rows read as the answer has."""
        start = self.clock().date()
        end = start + timedelta(days=days)
        found, unscheduled = self.shipments.inbound_sums.days(
            warehouse=warehouse, sku=sku, account=account, start=start, end=end)
        return InboundOut(warehouse=warehouse, warehouse_name=self.name_of(warehouse, account),
                          sku=sku, start=start, end=end, days=found, unscheduled=unscheduled)

    def deliveries(self, orders: Sequence[PurchaseOrderState],
                   sku: str | None = None) -> list[Delivery]:
        carriages = self.carriages({tn for o in orders for tn in o.notices})
        names = self.names(None)
        found = []
        for o in orders:
            for line in o.lines.values():
                if sku is not None and line.sku != sku:
                    continue
                for tn in o.notices:
                    c = carriages[tn]
                    if tn in o.receipts:
                        counted, at = o.receipts[tn]
                        if not any(r.sku == line.sku and r.quantity for r in counted):
                            continue  # none of it arrived: nothing to measure
                    elif c.delivered_to(str(o.warehouse)):
                        at = c.delivered_at  # type: ignore[assignment]
                    else:
                        continue
                    if not any(s.sku == line.sku for s in o.notices[tn]):
                        continue
                    found.append(Delivery(
                        po_number=o.po_number, tracking_number=tn, sku=line.sku,
                        supplier=o.supplier, origin=c.origin, warehouse=str(o.warehouse),
                        warehouse_name=names.get((o.account, str(o.warehouse))),
                        mode=c.mode, placed_at=o.placed_at, shipped_at=c.started_at,
                        received_at=at, need_by=line.need_by, on_time=at <= line.need_by,
                        lead_time_days=round(in_days(o.placed_at, at), 3),
                        transit_days=(round(in_days(c.started_at, at), 3)
                                      if c.started_at is not None else None)))
        found.sort(key=lambda d: (d.received_at, d.po_number, d.tracking_number, d.sku))
        return found

    def supplier(self, supplier: str, account: str | None) -> SupplierOut:
        orders = [decode_order(d) for d in self.view.orders(account=account, supplier=supplier)]
        found = self.deliveries(orders)
        lanes: dict[tuple[Any, ...], list[Delivery]] = {}
        for d in found:
            lanes.setdefault((d.origin or "", d.warehouse, d.mode or ""), []).append(d)
        overall = _performance(found, None, None, None)
        return SupplierOut(
            supplier=supplier, **msgspec.structs.asdict(overall),
            lanes=[_performance(ds, o or None, w, m or None)
                   for (o, w, m), ds in sorted(lanes.items())],
            deliveries=found)

    def reorder_point(self, *, warehouse: str, sku: str, daily_demand: float,
                      demand_sd: float, service_level: float,
                      account: str | None) -> ReorderOut:
        orders = [decode_order(d) for d in self.view.orders(account=account, warehouse=warehouse)]
        found = self.deliveries(orders, sku)
        result = reorder_point_of(daily_demand=daily_demand, demand_sd=demand_sd,
                                  service_level=service_level,
                                  lead_times=[d.lead_time_days for d in found])
        return ReorderOut(warehouse=warehouse, sku=sku, daily_demand=daily_demand,
                          demand_sd=demand_sd, service_level=service_level, result=result,
                          deliveries=found)

    def lanes(self, *, origin: str, destination: str, need_by: datetime | None,
              account: str | None = None) -> LanesOut:
        """Delivered shipments between the two places, or their countries (of
        one account, or with None of every account)."""
        measured = []
        for doc in self.view.deliveries(origin[:2], destination[:2]):
            c = decode_carriage(doc)
            if c.started_at is None or c.delivered_at is None or c.origin is None:
                continue
            if account is not None and c.account != account:
                continue
            measured.append((c.origin, c.destination or "", c.mode, c.carrier or "",
                             in_days(c.started_at, c.delivered_at)))
        return LanesOut(origin=origin, destination=destination, need_by=need_by,
                        options=lane_options(measured, origin=origin, destination=destination,
                                             now=self.clock(), need_by=need_by))


def _performance(found: Sequence[Delivery], origin: str | None, warehouse: str | None,
                 mode: str | None) -> Performance:
    return Performance(
        origin=origin, warehouse=warehouse, mode=mode, n=len(found),
        on_time_rate=round(sum(d.on_time for d in found) / len(found), 4) if found else None,
        lead_time=spread([d.lead_time_days for d in found]),
        transit_time=spread([d.transit_days for d in found if d.transit_days is not None]))
