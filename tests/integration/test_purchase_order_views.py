"""The purchase orders read model on SQLite and PostgreSQL, and in memory:
the same events give the same answers in each, in batches of any size and
rebuilt stream by stream (which meets an order's events and its shipments'
in any order)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from adapters.composition import build_view_store
from adapters.settings import Settings
from projections.purchase_orders import READ_MODEL as PURCHASE_ORDERS
from projections.readmodel import Views
from projections.registry import READ_MODELS
from projections.runner import ReadModelRunner
from projections.shipments import READ_MODEL as SHIPMENTS
from projections.stock import StockReader
from tests.builders import AGENT, HK_STO, TN, at, booking, scan
from tracking.application import ShipmentService
from tracking.carrier import Retraction
from tracking.identifiers import Locode, TrackingNumber
from tracking.order_line import CountedLine, OrderLine, ShippedLine

OTHER = TrackingNumber("RR473124829US")


@pytest.fixture
def store(database_url: str) -> Iterator[Views]:
    s = build_view_store(Settings(database_url=database_url))
    yield s
    s.close()


def traffic(service: ShipmentService) -> None:
    orders = service.purchase_orders
    for tn in (TN, OTHER):
        service.book(TrackingNumber(tn), booking(destination="SESTO"), HK_STO, AGENT)
    orders.place(account="default", po_number="PO-1", supplier="Tees", warehouse=Locode("SESTO"),
                 lines=[OrderLine(sku="A", quantity=10, need_by=at(14)),
                        OrderLine(sku="B", quantity=5, need_by=at(30))], source=AGENT)
    orders.notify_shipment("default", "PO-1", TrackingNumber(TN), [ShippedLine(sku="A", quantity=6)],
                           AGENT)
    orders.notify_shipment("default", "PO-1", OTHER, [ShippedLine(sku="A", quantity=4),
                                                      ShippedLine(sku="B", quantity=6)], AGENT)
    service.record_scans([scan("RECEIVED", "HKHKG", 2, tn=tn) for tn in (TN, OTHER)])
    service.record_scan(scan("DELIVERED", "SESTO", 15, tn=TN))
    orders.receive("default", "PO-1", OTHER, [CountedLine(sku="A", quantity=3, damaged=1)],
                   at(16), AGENT)


def answers(store: Views, service: ShipmentService) -> dict[str, Any]:
    reader = StockReader(store[PURCHASE_ORDERS], store[SHIPMENTS], lambda: at(10))
    return msgspec.to_builtins({
        "order": reader.order("default", "PO-1"),
        "inbound": reader.inbound(warehouse="SESTO", sku=None, days=30, account=None),
        "supplier": reader.supplier("Tees", None),
        "lanes": reader.lanes(origin="HKHKG", destination="SESTO", need_by=None),
    })


def test_the_views_agree_in_memory_and_on_the_database_in_batches_and_rebuilt(
    service: ShipmentService, store: Views,
) -> None:
    service.clock = lambda: at(20)
    traffic(service)
    ReadModelRunner(service, store, batch_size=3).catch_up()
    on_database = answers(store, service)
    memory = Views.in_memory(READ_MODELS)
    ReadModelRunner(service, memory).catch_up()
    assert answers(memory, service) == on_database
    ReadModelRunner(service, store).rebuild(["purchase_orders"])
    assert answers(store, service) == on_database

    a, b = on_database["order"]["lines"]
    assert (a["shipped"], a["received"], a["damaged"], a["missing"]) == (10, 9, 1, 1)
    # B over-shipped (6 of 5), then not counted at all in OTHER's receipt: short 6
    assert [(f["kind"], f["sku"], f["quantity"]) for f in on_database["order"]["findings"]] == [
        ("OVER_SHIPPED", "B", 1), ("SHORT", "A", 1), ("DAMAGED", "A", 1), ("SHORT", "B", 6)]
    assert (b["shipped"], b["in_transit"], b["missing"]) == (6, 0, 6)
    assert on_database["supplier"]["n"] == 2
    assert [o["n"] for o in on_database["lanes"]["options"]] == [1]


def test_a_retracted_delivered_or_lost_puts_the_stock_back_on_its_way(
    service: ShipmentService, store: Views,
) -> None:
    """The carrier corrects itself: the DELIVERED that received TN's goods in
    full, and the LOST that un-shipped OTHER's, are retracted; both are in
    transit again, inbound counts them again, and a rebuild agrees."""
    service.clock = lambda: at(20)
    orders = service.purchase_orders
    for tn in (TN, OTHER):
        service.book(TrackingNumber(tn), booking(destination="SESTO"), HK_STO, AGENT)
    orders.place(account="default", po_number="PO-1", supplier="Tees", warehouse=Locode("SESTO"),
                 lines=[OrderLine(sku="A", quantity=10, need_by=at(30))], source=AGENT)
    orders.notify_shipment("default", "PO-1", TrackingNumber(TN),
                           [ShippedLine(sku="A", quantity=6)], AGENT)
    orders.notify_shipment("default", "PO-1", OTHER, [ShippedLine(sku="A", quantity=4)], AGENT)
    service.record_scans([scan("RECEIVED", "HKHKG", 2, tn=tn) for tn in (TN, OTHER)])
    service.record_scan(scan("DELIVERED", "SESTO", 15, tn=TN, scan_id="wrong-delivered"))
    service.record_scan(scan("EXCEPTION", "USNYC", 9, tn=OTHER, reason="LOST",
                             scan_id="wrong-lost"))
    runner = ReadModelRunner(service, store)
    runner.catch_up()
    reader = StockReader(store[PURCHASE_ORDERS], store[SHIPMENTS], lambda: at(10))

    def line() -> dict[str, Any]:
        return msgspec.to_builtins(reader.order("default", "PO-1").lines[0])

    before = line()
    assert (before["shipped"], before["received"], before["in_transit"]) == (6, 6, 0)
    assert [p["state"] for p in before["shipments"]] == ["DELIVERED", "LOST"]
    assert reader.inbound(warehouse="SESTO", sku=None, days=60, account=None).days == []

    service.record_updates([Retraction(retracted_id="wrong-delivered", tracking_number=TN,
                                       declared_at=at(16)),
                            Retraction(retracted_id="wrong-lost", tracking_number=OTHER,
                                       declared_at=at(16))], AGENT)
    runner.catch_up()
    after = line()
    assert (after["shipped"], after["received"], after["in_transit"]) == (10, 0, 10)
    assert [p["state"] for p in after["shipments"]] == ["IN_TRANSIT", "IN_TRANSIT"]
    inbound = reader.inbound(warehouse="SESTO", sku=None, days=60, account=None)
    assert sum(d.at_eta for d in inbound.days) + inbound.unscheduled == 10
    # no delivery measured any more: the supplier's lead time has nothing to go on
    assert reader.supplier("Tees", None).n == 0
    incremental = answers(store, service)
    runner.rebuild(["purchase_orders"])
    assert answers(store, service) == incremental


def test_the_inbound_sums_follow_etas_and_a_rebuild_of_the_shipments_view_equals_them(
    service: ShipmentService, store: Views,
) -> None:
    """The per-day sums move with what changes a shipment's part: a later
    scan moving its ETA, a cancelled line, a receipt, a delivery; built batch
    by batch, in memory and rebuilt from the log, they are the same rows and
    the same answers."""
    service.clock = lambda: at(20)
    traffic(service)
    orders = service.purchase_orders
    orders.place(account="default", po_number="PO-2", supplier="Caps", warehouse=Locode("SESTO"),
                 lines=[OrderLine(sku="C", quantity=7, need_by=at(30)),
                        OrderLine(sku="D", quantity=3, need_by=at(30))], source=AGENT)
    third = TrackingNumber("CP123456785CN")
    service.book(third, booking(destination="SESTO"), HK_STO, AGENT)
    orders.notify_shipment("default", "PO-2", third, [ShippedLine(sku="C", quantity=7),
                                                      ShippedLine(sku="D", quantity=3)], AGENT)
    runner = ReadModelRunner(service, store, batch_size=2)
    runner.catch_up()
    reader = StockReader(store[PURCHASE_ORDERS], store[SHIPMENTS], lambda: at(1))

    def inbound() -> list[tuple[Any, ...]]:
        found = reader.inbound(warehouse="SESTO", sku=None, days=90, account=None)
        return [(d.date.day, d.sku, d.at_eta, d.at_latest) for d in found.days]

    first = inbound()
    assert {s for _, s, _, _ in first} == {"C", "D"}  # PO-1's shipments: delivered, received
    assert sum(e for _, s, e, _ in first if s == "C") == 7
    # a departure late by days moves the ETA; then D is cancelled
    service.record_scan(scan("LOADED", "HKHKG", 9, tn=str(third), voyage="V100"))
    orders.cancel("default", "PO-2", ["D"], AGENT)
    runner.catch_up()
    moved = inbound()
    assert {s for _, s, _, _ in moved} == {"C"}
    assert sum(e for _, _, e, _ in moved) == 7 and sum(late for *_, late in moved) == 7
    assert moved != [r for r in first if r[1] == "C"]  # on later days

    def sums(views: Views) -> set[Any]:
        return set(views[SHIPMENTS].inbound_sums.select(
            warehouse="SESTO", sku=None, account="default", end=at(31).date()))

    on_database = sums(store)
    memory = Views.in_memory(READ_MODELS)
    ReadModelRunner(service, memory).catch_up()
    assert sums(memory) == on_database
    runner.rebuild(["shipments"])
    assert sums(store) == on_database and inbound() == moved
    # asked after the ETAs: what was due counts on the first day, on the database as in memory
    late = [StockReader(v[PURCHASE_ORDERS], v[SHIPMENTS], lambda: at(28)).inbound(
        warehouse="SESTO", sku="C", days=3, account="default") for v in (store, memory)]
    assert late[0] == late[1] and [(d.date, d.at_eta) for d in late[0].days] == [
        (at(28).date(), 7)]
    service.record_scan(scan("DELIVERED", "SESTO", 19, tn=str(third)))
    runner.catch_up()
    assert inbound() == [] and sums(store) == set()
