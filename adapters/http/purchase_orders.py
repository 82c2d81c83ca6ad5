"""The purchase orders and stock endpoints: place orders (JSON, or a CSV
bulk import), say what shipments carry for them, count receipts in; read an
order's progress, what arrives where and when, suppliers' measured
performance, reorder points and which lanes meet a date.

Merchants write and read their own account's orders only: another
account's order is not found, the same answer as one never placed. Agents
(and admins) read every account's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, QueryParameter

from adapters.http import openapi, order_wire as wire
from adapters.http.auth import BOOKERS, allowed
from adapters.http.ownership import scope
from adapters.http.constraints import VALUES
from adapters.http.openapi import answer, operation
from adapters.http.responses import json_response
from adapters.http.schemas import Limit, Offset
from projections.purchase_orders import READ_MODEL as PURCHASE_ORDERS
from projections.warehouses import READ_MODEL as WAREHOUSES
from projections.readmodel import Views
from projections.shipments import READ_MODEL as SHIPMENTS
from projections.stock import (
    InboundOut,
    LanesOut,
    PurchaseOrderOut,
    ReorderOut,
    StockReader,
    SupplierOut,
)
from tracking.account import check_account
from tracking.codes import SourceKind
from tracking.errors import InvalidInput, ShipmentNotFound
from tracking.identifiers import Locode, TrackingNumber
from tracking.application import ShipmentService
from tracking.order_line import check_sku, check_supplier
from tracking.outcomes import WriteResult
from tracking.purchase_order import PurchaseOrder, PurchaseOrderConflict
from tracking.purchase_orders import PurchaseOrders
from tracking.scan import Source
from tracking.warehouse import resolve

PoNumber = Annotated[str, Parameter(schema_extra={"examples": ["PO-1"]})]
AccountQuery = Annotated[str | None, QueryParameter(
    description="agents: the account whose order is meant, when several share the number")]
LocodeQuery = Annotated[str, QueryParameter(schema_extra=VALUES[Locode])]
WarehouseQuery = QueryParameter(
    description="a UN/LOCODE, or the name of one of your warehouses (GET /api/v1/warehouses)",
    schema_extra={"examples": ["DEHAM", "Hamburg DC"]})
SupplierPath = Annotated[str, Parameter(schema_extra={"examples": ["Shenzhen Tees"]})]
ERRORS = (400, 404, 409, 422, 503)


class PurchaseOrderWritten(PurchaseOrderOut, kw_only=True):
    position: int | None = None


class ImportOut(msgspec.Struct, kw_only=True):
    """A CSV import's outcome: what was recorded and each row refused."""

    rows: int
    recorded: list[str]  # the orders placed, amended or notified
    refused: list[wire.Refused]
    position: int | None


def _same_order(order: PurchaseOrder, row: wire.Row) -> None:
    """An import may amend an order's lines, not its supplier or warehouse."""
    for field in ("supplier", "warehouse"):
        if getattr(order, field) != getattr(row, field):
            raise InvalidInput(field, f"{order.po_number} is placed with {field} "
                                      f"{getattr(order, field)}, not {getattr(row, field)}")


WRITERS = allowed("merchant")
READERS = BOOKERS  # merchants (their own account's) and agents (every account's)


def stock_reader(views: Views, service: ShipmentService) -> StockReader:
    """What the readers are given (``stock``): the orders', shipments' and
    warehouses' views."""
    return StockReader(views[PURCHASE_ORDERS], views[SHIPMENTS], lambda: service.clock(),
                       views[WAREHOUSES])


def source(request: Request[Any, Any, Any]) -> Source:
    return Source(SourceKind.AGENT, request.state.principal)


def account_for(stock: StockReader, request: Request[Any, Any, Any], po_number: str,
                account: str | None) -> str:
    mine = scope(request)
    if mine is None and account is not None:
        return check_account("account", account)
    return stock.account_of(po_number, mine)


def written(service: ShipmentService, stock: StockReader, account: str, po_number: str,
            position: int | None, status: int) -> Response[bytes]:
    """The order as just written, its warehouse named as the account's book says now."""
    order = service.purchase_orders.order(account, po_number)
    names = {(account, str(at)): name for name, at in service.warehouses.named(account).items()}
    out: dict[str, Any] = msgspec.to_builtins(stock.out(order.state(), names=names))
    out["position"] = position
    return json_response(out, status)


def on_order(service: ShipmentService, stock: StockReader, request: Request[Any, Any, Any],
             po_number: str, created: int,
             change: Callable[[PurchaseOrders, str, Source], WriteResult]) -> Response[bytes]:
    """A write to one of the account's orders, answered with the order as it
    now stands: ``created`` when it recorded something, else 200."""
    orders = service.purchase_orders
    account = account_for(stock, request, po_number, None)
    result = change(orders, account, source(request))
    return written(service, stock, account, po_number, result.position,
                   created if result.changed else 200)


def recording(summary: str, description: str) -> dict[str, Any]:
    """The route options of a write that records something of an order
    (201, or 200 when it was recorded so already)."""
    return {"sync_to_thread": True, "status_code": 201, "summary": summary, **operation(
        WRITERS, errors=ERRORS, description=description,
        answers={201: answer(PurchaseOrderWritten, "Recorded: the order"),
                 200: answer(PurchaseOrderWritten, "Already recorded so")})}


def import_csv(service: ShipmentService, request: Request[Any, Any, Any],
               data: bytes) -> Response[bytes]:
    orders, account, by = service.purchase_orders, request.state.account, source(request)
    named = service.warehouses.named(account)
    good, refused = wire.read_csv(data, lambda text, field: resolve(named, text, field))
    by_order: dict[str, list[wire.Row]] = defaultdict(list)
    for row in good:
        first = by_order[row.po_number][:1]
        if first and (first[0].supplier, first[0].warehouse) != (row.supplier, row.warehouse):
            field = "supplier" if first[0].supplier != row.supplier else "warehouse"
            refused.append(wire.Refused(row=row.row, field=field, detail=(
                f"differs from row {first[0].row} of the same order")))
        elif any(r.line.sku == row.line.sku for r in by_order[row.po_number]):
            refused.append(wire.Refused(row=row.row, field="sku",
                                        detail=f"{row.line.sku} is on the order twice"))
        else:
            by_order[row.po_number].append(row)
    recorded: list[str] = []
    positions: list[int] = []
    for po_number, rows in by_order.items():
        lines = [r.line for r in rows]
        try:
            result = orders.place(account=account, po_number=po_number,
                                  supplier=rows[0].supplier, warehouse=rows[0].warehouse,
                                  lines=lines, source=by)
        except PurchaseOrderConflict:
            try:
                _same_order(orders.order(account, po_number), rows[0])
                result = orders.amend(account, po_number, lines, by)
            except (InvalidInput, PurchaseOrderConflict) as e:
                field = e.field if isinstance(e, InvalidInput) else "po_number"
                refused += [wire.Refused(row=r.row, field=field, detail=e.message)
                            for r in rows]
                continue
        positions += [result.position] if result.position else []
        recorded.append(po_number)
        notices: dict[TrackingNumber, list[wire.Row]] = defaultdict(list)
        for r in rows:
            if r.tracking_number is not None:
                notices[r.tracking_number].append(r)
        for tn, carried in notices.items():
            try:
                result = orders.notify_shipment(account, po_number, tn, [
                    wire.ShippedLine(sku=r.line.sku, quantity=r.shipped or 0)
                    for r in carried], by)
                positions += [result.position] if result.position else []
            except (InvalidInput, ShipmentNotFound, PurchaseOrderConflict) as e:
                refused += [wire.Refused(row=r.row, field="tracking_number",
                                         detail=e.message) for r in carried]
    refused.sort(key=lambda r: r.row)
    out = ImportOut(rows=len(good) + len({r.row for r in refused} - {g.row for g in good}),
                    recorded=recorded, refused=refused,
                    position=max(positions, default=None))
    return json_response(out, 201 if recorded else 422)


class PurchaseOrderController(Controller):
    """Orders under /purchase-orders; stock under /inventory, /suppliers, /lanes."""

    path = "/"
    tags = ["purchase orders"]

    @post("/purchase-orders", status_code=201, summary="Place a purchase order, or import "
          "orders and notices from CSV", dto=openapi.raw_body(wire.PurchaseOrderIn),
          **operation(WRITERS, errors=ERRORS, description=(
              "JSON: one order; the same order again answers 200, other contents under "
              "a number already placed 409 (amend its lines instead). `text/csv`: a bulk "
              "import, one order line a row (po_number, supplier, warehouse, sku, "
              "quantity, need_by; optionally tracking_number and shipped for what a "
              "shipment carries of it): each bad row is refused with its row number and "
              "field, the good rows are recorded (201, or 422 when none was)."),
              answers={201: answer(PurchaseOrderWritten | ImportOut,
                                   "Placed: the order (CSV: the import's outcome)"),
                       200: answer(PurchaseOrderWritten, "Already placed so")}))
    async def place(self, request: Request[Any, Any, Any],
                    service: NamedDependency[ShipmentService],
                    stock: NamedDependency[StockReader],
                    data: JSONBody[bytes] = b"") -> Response[bytes]:
        orders = service.purchase_orders
        if request.content_type[0].lower() in ("text/csv", "application/csv"):
            return await anyio.to_thread.run_sync(import_csv, service, request, data)
        body = wire.body(wire.ORDER, data)
        lines = wire.order_lines(body.lines)
        account = request.state.account

        def place() -> Response[bytes]:
            result = orders.place(
                account=account, po_number=body.po_number, supplier=body.supplier,
                warehouse=service.warehouses.locode(account, body.warehouse), lines=lines,
                source=source(request))
            return written(service, stock, account, body.po_number, result.position,
                           201 if result.changed else 200)

        return await anyio.to_thread.run_sync(place)

    @post("/purchase-orders/{po_number:str}/lines", sync_to_thread=True, status_code=200,
          summary="Amend an order's lines", **operation(
              WRITERS, errors=ERRORS,
              description="The lines as they are to stand; what they replace stays in "
                          "the order's history.",
              answers={200: answer(PurchaseOrderWritten, "The order")}))
    def amend(self, po_number: PoNumber, data: JSONBody[wire.LinesIn],
              request: Request[Any, Any, Any],
              service: NamedDependency[ShipmentService],
              stock: NamedDependency[StockReader]) -> Response[bytes]:
        lines = wire.order_lines(data.lines)
        return on_order(service, stock, request, po_number, 200,
                        lambda orders, account, by: orders.amend(account, po_number, lines, by))

    @post("/purchase-orders/{po_number:str}/cancel", sync_to_thread=True, status_code=200,
          summary="Cancel an order's lines, or the whole order", **operation(
              WRITERS, errors=ERRORS,
              answers={200: answer(PurchaseOrderWritten, "The order")}))
    def cancel(self, po_number: PoNumber, data: JSONBody[wire.CancelIn],
               request: Request[Any, Any, Any],
               service: NamedDependency[ShipmentService],
               stock: NamedDependency[StockReader]) -> Response[bytes]:
        skus = (None if data.skus is None
                else [check_sku(f"skus[{i}]", s) for i, s in enumerate(data.skus)])
        return on_order(service, stock, request, po_number, 200,
                        lambda orders, account, by: orders.cancel(account, po_number, skus, by))

    @post("/purchase-orders/{po_number:str}/shipments", **recording(
        "Say what a shipment carries for an order",
        "An advance shipping notice: the shipment (booked by the same account) and the "
        "quantities of the order's SKUs it carries. Shipping more than ordered is recorded "
        "and flagged (OVER_SHIPPED). The same notice again answers 200; a new one for the "
        "same shipment replaces it until it is received."))
    def notify(self, po_number: PoNumber, data: JSONBody[wire.NoticeIn],
               request: Request[Any, Any, Any],
               service: NamedDependency[ShipmentService],
               stock: NamedDependency[StockReader]) -> Response[bytes]:
        tn, lines = TrackingNumber(data.tracking_number), wire.shipped_lines(data.lines)
        return on_order(service, stock, request, po_number, 201,
                        lambda orders, account, by: orders.notify_shipment(
                            account, po_number, tn, lines, by))

    @post("/purchase-orders/{po_number:str}/receipts", **recording(
        "Count a shipment's goods in",
        "What was counted in from one of the order's shipments (and how many of them "
        "damaged): short, over and damaged are kept as findings. A shipment DELIVERED at "
        "the warehouse with no receipt counts as received in full. A second, different "
        "count of the same shipment answers 409: the first stands."))
    def receive(self, po_number: PoNumber, data: JSONBody[wire.ReceiptIn],
                request: Request[Any, Any, Any],
                service: NamedDependency[ShipmentService],
                stock: NamedDependency[StockReader]) -> Response[bytes]:
        tn, lines = TrackingNumber(data.tracking_number), wire.counted_lines(data.lines)
        at = wire.received_at(data)
        return on_order(service, stock, request, po_number, 201,
                        lambda orders, account, by: orders.receive(
                            account, po_number, tn, lines, at, by))

    @get("/purchase-orders/{po_number:str}", sync_to_thread=True,
         summary="An order: each line's progress and whether it is at risk", **operation(
             READERS, errors=(400, 404, 422, 503),
             answers={200: answer(PurchaseOrderOut, "The order")}))
    def order(self, po_number: PoNumber, request: Request[Any, Any, Any],
              stock: NamedDependency[StockReader],
              account: AccountQuery = None) -> Response[bytes]:
        return json_response(stock.order(account_for(stock, request, po_number, account),
                                         po_number))

    @get("/purchase-orders", sync_to_thread=True,
         summary="Orders, those at risk first", **operation(
             READERS, errors=(400, 422, 503),
             description="A merchant's own orders (an agent's: every account's), each as "
                         "GET /purchase-orders/{po_number} shows it, those with a line at "
                         "risk first; at_risk=true keeps only those (the agents' queue of "
                         "orders at risk).",
             answers={200: answer(list[PurchaseOrderOut], "The orders")}))
    def orders_list(
        self, request: Request[Any, Any, Any], stock: NamedDependency[StockReader],
        at_risk: Annotated[bool | None, QueryParameter()] = None,
        supplier: Annotated[str | None, QueryParameter()] = None,
        warehouse: Annotated[str | None, WarehouseQuery] = None,
        limit: Limit = 100, offset: Offset = 0,
    ) -> Response[bytes]:
        return json_response(stock.orders(
            account=scope(request),
            supplier=check_supplier("supplier", supplier) if supplier is not None else None,
            warehouse=stock.warehouse(warehouse, scope(request)) if warehouse is not None else None,
            at_risk=at_risk, limit=limit, offset=offset))

    @get("/inventory/inbound", sync_to_thread=True,
         summary="Stock expected to arrive at a warehouse, per SKU and day", **operation(
             READERS, errors=(400, 422, 503),
             description="Each day from today to today + days: the quantity expected at "
                         "the carrying shipments' ETAs, and at their windows' latest.",
             answers={200: answer(InboundOut, "Per SKU and day")}))
    def inbound(self, request: Request[Any, Any, Any], stock: NamedDependency[StockReader],
                warehouse: Annotated[str, WarehouseQuery],
                sku: Annotated[str | None, QueryParameter()] = None,
                days: Annotated[int, QueryParameter(ge=0, le=366)] = 30) -> Response[bytes]:
        return json_response(stock.inbound(
            warehouse=stock.warehouse(warehouse, scope(request)),
            sku=check_sku("sku", sku) if sku is not None else None, days=days,
            account=scope(request)))

    @get("/suppliers/{supplier:str}/performance", sync_to_thread=True,
         summary="A supplier's on-time rate and lead times, measured", **operation(
             READERS, errors=(400, 422, 503),
             description="Over its orders' received shipments: the share received by "
                         "need_by, and the lead time in days from the order placed and "
                         "from the shipment received into the network (mean, standard "
                         "deviation), overall and per lane and mode.",
             answers={200: answer(SupplierOut, "The supplier's performance")}))
    def supplier(self, supplier: SupplierPath, request: Request[Any, Any, Any],
                 stock: NamedDependency[StockReader]) -> Response[bytes]:
        return json_response(stock.supplier(supplier, scope(request)))

    @get("/inventory/reorder-point", sync_to_thread=True,
         summary="Safety stock and reorder point from measured lead times", **operation(
             READERS, errors=(400, 422, 503),
             description="SS = z·√(μL·σD² + μD²·σL²) and ROP = μD·μL + SS, with μL and σL "
                         "(days) measured from the deliveries listed; null figures "
                         "without any.",
             answers={200: answer(ReorderOut, "The reorder point")}))
    def reorder_point(
        self, request: Request[Any, Any, Any], stock: NamedDependency[StockReader],
        warehouse: Annotated[str, WarehouseQuery], sku: Annotated[str, QueryParameter()],
        daily_demand: Annotated[float, QueryParameter(ge=0, le=1e9)],
        demand_sd: Annotated[float, QueryParameter(ge=0, le=1e9)] = 0.0,
        service_level: Annotated[float, QueryParameter(ge=0.5, lt=1)] = 0.95,
    ) -> Response[bytes]:
        return json_response(stock.reorder_point(
            warehouse=stock.warehouse(warehouse, scope(request)), sku=check_sku("sku", sku),
            daily_demand=daily_demand, demand_sd=demand_sd, service_level=service_level,
            account=scope(request)))

    @get("/lanes/options", sync_to_thread=True,
         summary="Measured lanes and modes between two places, and which meet a date",
         **operation(
             READERS, errors=(400, 422, 503),
             description="Delivered shipments between the two places (or their "
                         "countries), by lane, mode and carrier: n, median and 90th "
                         "percentile door-to-door days, and whether leaving now it "
                         "would arrive by need_by at 90%. A merchant's are measured "
                         "over its own account's shipments only.",
             answers={200: answer(LanesOut, "The options, fastest at 90% first")}))
    def lanes(self, request: Request[Any, Any, Any], stock: NamedDependency[StockReader],
              origin: LocodeQuery, destination: LocodeQuery,
              need_by: Annotated[datetime | None, QueryParameter()] = None
              ) -> Response[bytes]:
        if need_by is not None and need_by.tzinfo is None:
            raise InvalidInput("need_by", "needs a UTC offset (RFC 3339)")
        return json_response(stock.lanes(origin=Locode(origin, "origin"),
                                          destination=Locode(destination, "destination"),
                                          need_by=need_by, account=scope(request)))

