"""Named warehouses over HTTP, on SQLite and PostgreSQL: a merchant names
its warehouse at a UN/LOCODE; an order, its inbound stock, its implied
receipt (a DELIVERED at the warehouse's LOCODE), a CSV import and the
merchant's page then take and show the name; bad names and LOCODEs are
refused naming the field; another account's warehouse is not found."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.e2e.conftest import Clock
from tests.e2e.test_purchase_orders import (  # noqa: F401  # fixtures
    A,
    ACME,
    AGENT,
    OTHER,
    ORDER,
    book,
    client,
    clock,
    day,
    ok,
    scan,
)

HAMBURG = {"name": "Hamburg DC", "locode": "DEHAM"}
CSV_HEADERS = {**ACME, "Content-Type": "text/csv"}


def named(client: TestClient[Any]) -> int:
    return int(ok(client.post("/api/v1/warehouses", headers=ACME, json=HAMBURG), 201)["position"])


def test_a_named_warehouse_is_listed_and_read_by_its_account_only(client: TestClient[Any]) -> None:
    position = named(client)
    again = ok(client.post("/api/v1/warehouses", headers=ACME, json=HAMBURG))
    assert again["position"] is None  # the same name again records nothing
    mine = ok(client.get("/api/v1/warehouses", headers=ACME, params={"min_position": position}))
    assert mine == [{"account": "acme", "name": "Hamburg DC", "locode": "DEHAM"}]
    assert ok(client.get("/api/v1/warehouses/Hamburg DC", headers=ACME))["locode"] == "DEHAM"
    assert ok(client.get("/api/v1/warehouses", headers=OTHER)) == []
    theirs = client.get("/api/v1/warehouses/Hamburg DC", headers=OTHER)
    unknown = client.get("/api/v1/warehouses/Berlin DC", headers=OTHER)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"] == unknown.json()["detail"].replace("Berlin", "Hamburg")
    assert ok(client.get("/api/v1/warehouses", headers=AGENT)) == mine
    # the other account may name its own warehouse so
    ok(client.post("/api/v1/warehouses", headers=OTHER, json=HAMBURG), 201)


def test_a_name_or_locode_taken_otherwise_conflicts_and_bad_ones_name_their_field(
        client: TestClient[Any]) -> None:
    named(client)
    for body in ({"name": "Hamburg DC", "locode": "NLRTM"}, {"name": "Hamburg 2", "locode": "DEHAM"}):
        r = client.post("/api/v1/warehouses", headers=ACME, json=body)
        assert r.status_code == 409, r.text
    for body, field in (({"name": "Rotterdam", "locode": "ZZZZZ"}, "locode"),
                        ({"name": "NLRTM", "locode": "NLRTM"}, "name"),
                        ({"name": " ", "locode": "NLRTM"}, "name")):
        r = client.post("/api/v1/warehouses", headers=ACME, json=body)
        assert (r.status_code, r.json()["field"]) == (422, field), r.text


def test_an_order_to_a_named_warehouse_shows_it_by_name_inbound_and_received(
        client: TestClient[Any], clock: Clock) -> None:
    named(client)
    po = ok(client.post("/api/v1/purchase-orders", headers=ACME,
                        json={**ORDER, "warehouse": "Hamburg DC"}), 201)
    assert (po["warehouse"], po["warehouse_name"]) == ("DEHAM", "Hamburg DC")
    book(client, A, 12)
    notified = ok(client.post("/api/v1/purchase-orders/PO-1/shipments", headers=ACME, json={
        "tracking_number": A, "lines": [{"sku": "TSHIRT-M", "quantity": 40}]}), 201)
    by_name = ok(client.get("/api/v1/inventory/inbound", headers=ACME, params={
        "warehouse": "Hamburg DC", "min_position": notified["position"]}))
    by_locode = ok(client.get("/api/v1/inventory/inbound", headers=ACME,
                              params={"warehouse": "DEHAM"}))
    assert by_name == by_locode and by_name["warehouse_name"] == "Hamburg DC"
    assert [(d["sku"], d["at_eta"]) for d in by_name["days"]] == [("TSHIRT-M", 40)]
    assert ok(client.get("/api/v1/purchase-orders", headers=ACME,
                         params={"warehouse": "Hamburg DC"}))[0]["po_number"] == "PO-1"

    clock.now = day(14)
    position = scan(client, A, "DELIVERED", "DEHAM", 12)  # received in full at Hamburg DC
    po = ok(client.get("/api/v1/purchase-orders/PO-1", headers=ACME,
                       params={"min_position": position}))
    assert po["warehouse_name"] == "Hamburg DC"
    assert (po["lines"][0]["received"], po["lines"][0]["shipments"][0]["state"]) == (
        40, "DELIVERED")
    rop = ok(client.get("/api/v1/inventory/reorder-point", headers=ACME, params={
        "warehouse": "Hamburg DC", "sku": "TSHIRT-M", "daily_demand": 10}))
    assert [(d["tracking_number"], d["warehouse_name"]) for d in rop["deliveries"]] == [
        (A, "Hamburg DC")]


def test_an_unknown_warehouse_is_refused_naming_the_field(client: TestClient[Any]) -> None:
    named(client)
    for body in ({**ORDER, "warehouse": "Berlin DC"}, {**ORDER, "warehouse": "ZZZZZ"}):
        r = client.post("/api/v1/purchase-orders", headers=ACME, json=body)
        assert (r.status_code, r.json()["field"]) == (422, "warehouse"), r.text
    assert "Berlin DC" in client.post("/api/v1/purchase-orders", headers=ACME, json={
        **ORDER, "warehouse": "Berlin DC"}).json()["detail"]
    # another account's name is not one of yours
    r = client.post("/api/v1/purchase-orders", headers=OTHER,
                    json={**ORDER, "warehouse": "Hamburg DC"})
    assert (r.status_code, r.json()["field"]) == (422, "warehouse")
    r = client.get("/api/v1/inventory/inbound", headers=ACME, params={"warehouse": "Berlin DC"})
    assert (r.status_code, r.json()["field"]) == (422, "warehouse"), r.text


def test_a_csv_import_takes_a_warehouse_by_name(client: TestClient[Any]) -> None:
    named(client)
    csv = ("po_number,supplier,warehouse,sku,quantity,need_by\n"
           "PO-7,Tees,Hamburg DC,A,10,2026-03-20T00:00:00Z\n"
           "PO-8,Tees,Berlin DC,A,10,2026-03-20T00:00:00Z\n")
    out = ok(client.post("/api/v1/purchase-orders", headers=CSV_HEADERS,
                         content=csv.encode()), 201)
    assert out["recorded"] == ["PO-7"]
    assert [(r["row"], r["field"]) for r in out["refused"]] == [(3, "warehouse")]
    po = ok(client.get("/api/v1/purchase-orders/PO-7", headers=ACME,
                       params={"min_position": out["position"]}))
    assert (po["warehouse"], po["warehouse_name"]) == ("DEHAM", "Hamburg DC")
