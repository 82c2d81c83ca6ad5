"""Purchase orders over HTTP, on SQLite and PostgreSQL: an order, what three
shipments carry of it, one delivered at the warehouse (received in full),
one counted in short, one at risk by a late ETA; stock arriving by day;
the supplier's measured performance; a CSV import with bad rows; and
another account's order, which is not found."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.e2e.conftest import Clock

T0 = datetime(2026, 3, 2, tzinfo=UTC)
ACME = {"Authorization": "Bearer acme-token"}
OTHER = {"Authorization": "Bearer other-token"}
AGENT = {"Authorization": "Bearer a-token"}
DEVICE = {"Authorization": "Bearer d-token"}
A, B, C = "LX123456785CN", "SHIPB00002", "SHIPC00003"


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def iso(n: float) -> str:
    return day(n).isoformat()


@pytest.fixture
def clock() -> Clock:
    return Clock(day(0))


@pytest.fixture
def client(database_url: str, clock: Clock) -> Iterator[TestClient[Any]]:
    settings = Settings.from_env({
        "TRACKING_DATABASE_URL": database_url,
        "TRACKING_API_TOKENS": "merchant:acme-token:acme,merchant:other-token:other,"
                               "agent:a-token,device:d-token",
    })
    with TestClient(app=create_app(build_api(settings, clock=clock))) as c:
        yield c


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def book(client: TestClient[Any], tn: str, arrives: float, headers: dict[str, str] = ACME,
         mode: str = "sea") -> None:
    ok(client.post("/api/v1/shipments", headers=headers, json={
        "tracking_number": tn, "carrier": "maersk", "origin": "HKHKG", "destination": "DEHAM",
        "route": [{"voyage": f"V{tn[-3:]}", "mode": mode, "from": "HKHKG", "to": "DEHAM",
                   "departs_at": iso(2), "arrives_at": iso(arrives)}]}), 201)


def scan(client: TestClient[Any], tn: str, event: str, location: str, n: float) -> int:
    return int(ok(client.post("/api/v1/scans", headers=DEVICE, json={
        "scan_id": uuid.uuid4().hex, "device_id": "dock-1", "tracking_number": tn,
        "event": event, "location": location, "occurred_at": iso(n)}), 201)["position"])


ORDER = {"po_number": "PO-1", "supplier": "Shenzhen Tees", "warehouse": "DEHAM",
         "lines": [{"sku": "TSHIRT-M", "quantity": 100, "need_by": iso(18)},
                   {"sku": "CAP", "quantity": 50, "need_by": iso(25)}]}


def placed(client: TestClient[Any]) -> int:
    """PO-1 and its three shipments' notices; the log position of the last."""
    ok(client.post("/api/v1/purchase-orders", headers=ACME, json=ORDER), 201)
    position = 0
    for tn, arrives in ((A, 12), (B, 13), (C, 20)):
        book(client, tn, arrives)
    for tn, lines in ((A, [("TSHIRT-M", 40)]), (B, [("TSHIRT-M", 30)]),
                      (C, [("TSHIRT-M", 30), ("CAP", 50)])):
        position = ok(client.post("/api/v1/purchase-orders/PO-1/shipments", headers=ACME, json={
            "tracking_number": tn, "lines": [{"sku": s, "quantity": q} for s, q in lines]}),
            201)["position"]
    return int(position)


def test_an_order_follows_its_shipments_to_the_warehouse(client: TestClient[Any],
                                                         clock: Clock) -> None:
    placed(client)
    clock.now = day(14)
    scan(client, A, "RECEIVED", "HKHKG", 2)
    scan(client, A, "DELIVERED", "DEHAM", 12)  # no receipt: received in full
    receipt = ok(client.post("/api/v1/purchase-orders/PO-1/receipts", headers=ACME, json={
        "tracking_number": B, "lines": [{"sku": "TSHIRT-M", "quantity": 29}],
        "received_at": iso(13)}), 201)
    assert [(f["kind"], f["quantity"]) for f in receipt["findings"]] == [("SHORT", 1)]

    po = ok(client.get("/api/v1/purchase-orders/PO-1", headers=ACME,
                       params={"min_position": receipt["position"]}))
    tshirt, cap = po["lines"]
    assert {k: tshirt[k] for k in ("ordered", "shipped", "in_transit", "received", "missing")} \
        == {"ordered": 100, "shipped": 100, "in_transit": 30, "received": 69, "missing": 1}
    assert tshirt["at_risk"] and C in tshirt["reason"]  # C arrives day 20, needed by day 18
    assert not cap["at_risk"] and po["at_risk"]

    inbound = ok(client.get("/api/v1/inventory/inbound", headers=ACME,
                            params={"warehouse": "DEHAM", "days": 30}))
    assert [(d["date"], d["sku"], d["at_eta"]) for d in inbound["days"]] == [
        (day(20).date().isoformat(), "CAP", 50), (day(20).date().isoformat(), "TSHIRT-M", 30)]

    perf = ok(client.get("/api/v1/suppliers/Shenzhen Tees/performance", headers=ACME))
    assert (perf["n"], perf["on_time_rate"]) == (2, 1.0)
    assert perf["lead_time"] == {"n": 2, "mean": 12.5, "sd": pytest.approx(0.707, abs=0.001)}
    assert perf["transit_time"]["mean"] == 10.0  # A: received into the network on day 2

    rop = ok(client.get("/api/v1/inventory/reorder-point", headers=ACME, params={
        "warehouse": "DEHAM", "sku": "TSHIRT-M", "daily_demand": 10, "demand_sd": 2}))
    assert [d["tracking_number"] for d in rop["deliveries"]] == [A, B]
    assert rop["result"]["reorder_point"] > 10 * 12.5

    lanes = ok(client.get("/api/v1/lanes/options", headers=ACME, params={
        "origin": "HKHKG", "destination": "DEHAM", "need_by": iso(30)}))
    [sea] = lanes["options"]
    assert (sea["mode"], sea["n"], sea["median_days"], sea["arrives_by_need_by"]) == (
        "sea", 1, 10.0, True)


def test_a_returned_shipment_unships_its_quantities(client: TestClient[Any],
                                                    clock: Clock) -> None:
    placed(client)
    clock.now = day(5)
    position = scan(client, C, "RETURNED_TO_SENDER", "HKHKG", 4)
    po = ok(client.get("/api/v1/purchase-orders/PO-1", headers=ACME,
                       params={"min_position": position}))
    assert po["lines"][1]["shipped"] == 0 and not po["at_risk"]


def test_over_shipping_is_recorded_and_flagged(client: TestClient[Any]) -> None:
    placed(client)
    book(client, "SHIPD00004", 15)
    po = ok(client.post("/api/v1/purchase-orders/PO-1/shipments", headers=ACME, json={
        "tracking_number": "SHIPD00004", "lines": [{"sku": "TSHIRT-M", "quantity": 5}]}), 201)
    assert po["lines"][0]["shipped"] == 105
    assert [(f["kind"], f["quantity"]) for f in po["findings"]] == [("OVER_SHIPPED", 5)]


def test_another_accounts_order_is_not_found_as_one_never_placed(
        client: TestClient[Any]) -> None:
    position = placed(client)
    theirs = client.get("/api/v1/purchase-orders/PO-1", headers=OTHER,
                        params={"min_position": position})
    unknown = client.get("/api/v1/purchase-orders/PO-404", headers=OTHER)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == {**unknown.json(), "detail": unknown.json()["detail"].replace(
        "PO-404", "PO-1")}
    assert client.post("/api/v1/purchase-orders/PO-1/shipments", headers=OTHER, json={
        "tracking_number": A, "lines": [{"sku": "CAP", "quantity": 1}]}).status_code == 404
    assert ok(client.get("/api/v1/purchase-orders/PO-1", headers=AGENT))["account"] == "acme"


def test_a_notice_for_another_accounts_shipment_is_refused(client: TestClient[Any]) -> None:
    placed(client)
    book(client, "SHIPE00005", 15, headers=OTHER)
    r = client.post("/api/v1/purchase-orders/PO-1/shipments", headers=ACME, json={
        "tracking_number": "SHIPE00005", "lines": [{"sku": "CAP", "quantity": 1}]})
    assert r.status_code == 404


CSV = """po_number,supplier,warehouse,sku,quantity,need_by,tracking_number,shipped
PO-7,Shenzhen Tees,DEHAM,TSHIRT-S,10,2026-03-20T00:00:00Z,,
PO-7,Shenzhen Tees,DEHAM,TSHIRT-L,zero,2026-03-20T00:00:00Z,,
PO-8,Ningbo Caps,ZZZZZ,CAP,5,2026-03-20T00:00:00Z,,
PO-8,Ningbo Caps,DEHAM,CAP,5,2026-03-20,,
PO-9,Ningbo Caps,DEHAM,CAP,5,2026-03-21T00:00:00+01:00,LX123456785CN,5
"""


def test_a_csv_import_records_the_good_rows_and_names_each_bad_one(
        client: TestClient[Any]) -> None:
    book(client, A, 12)
    out = ok(client.post("/api/v1/purchase-orders", headers={**ACME, "Content-Type": "text/csv"},
                         content=CSV.encode()), 201)
    assert [(r["row"], r["field"]) for r in out["refused"]] == [
        (3, "quantity"), (4, "warehouse"), (5, "need_by")]
    assert out["recorded"] == ["PO-7", "PO-9"]
    po7 = ok(client.get("/api/v1/purchase-orders/PO-7", headers=ACME,
                        params={"min_position": out["position"]}))
    assert [line["sku"] for line in po7["lines"]] == ["TSHIRT-S"]
    po9 = ok(client.get("/api/v1/purchase-orders/PO-9", headers=ACME))
    assert po9["lines"][0]["in_transit"] == 5
    assert client.get("/api/v1/purchase-orders/PO-8", headers=ACME).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({**ORDER, "warehouse": "ZZZZZ"}, "warehouse"),
    ({**ORDER, "lines": [{"sku": "A", "quantity": 0, "need_by": iso(3)}]}, "lines[0].quantity"),
    ({**ORDER, "lines": [{"sku": "A", "quantity": 1, "need_by": "2026-03-20T00:00:00"}]},
     "lines[0].need_by"),
    ({**ORDER, "lines": []}, "lines"),
])
def test_an_order_that_cannot_be_right_is_refused_naming_the_field(
        client: TestClient[Any], body: dict[str, Any], field: str) -> None:
    r = client.post("/api/v1/purchase-orders", headers=ACME, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


def test_the_same_order_again_changes_nothing_and_other_contents_conflict(
        client: TestClient[Any]) -> None:
    ok(client.post("/api/v1/purchase-orders", headers=ACME, json=ORDER), 201)
    assert ok(client.post("/api/v1/purchase-orders", headers=ACME, json=ORDER))["position"] \
        is None
    other = {**ORDER, "supplier": "Someone else"}
    assert client.post("/api/v1/purchase-orders", headers=ACME, json=other).status_code == 409
    # another account may use the same number
    ok(client.post("/api/v1/purchase-orders", headers=OTHER, json=other), 201)


def test_the_orders_at_risk_come_first(client: TestClient[Any]) -> None:
    placed(client)  # PO-1: C may arrive after TSHIRT-M's need_by
    written = ok(client.post("/api/v1/purchase-orders", headers=ACME,
                             json={**ORDER, "po_number": "PO-0"}), 201)
    listed = ok(client.get("/api/v1/purchase-orders", headers=ACME,
                           params={"min_position": written["position"]}))
    assert [(o["po_number"], o["at_risk"]) for o in listed] == [("PO-1", True), ("PO-0", False)]
    queue = ok(client.get("/api/v1/purchase-orders", headers=AGENT, params={"at_risk": True}))
    assert [(o["account"], o["po_number"]) for o in queue] == [("acme", "PO-1")]
    assert ok(client.get("/api/v1/purchase-orders", headers=OTHER)) == []


def test_a_csv_import_amends_an_orders_lines_but_not_its_supplier(client: TestClient[Any]) -> None:
    header = "po_number,supplier,warehouse,sku,quantity,need_by\n"
    ok(client.post("/api/v1/purchase-orders", headers={**ACME, "Content-Type": "text/csv"},
                   content=(header + "PO-7,Tees,DEHAM,A,10,2026-03-20T00:00:00Z\n").encode()), 201)
    again = ok(client.post("/api/v1/purchase-orders", headers={**ACME, "Content-Type": "text/csv"},
                           content=(header + "PO-7,Tees,DEHAM,A,12,2026-03-20T00:00:00Z\n"
                                    ).encode()), 201)
    assert ok(client.get("/api/v1/purchase-orders/PO-7", headers=ACME, params={
        "min_position": again["position"]}))["lines"][0]["ordered"] == 12
    moved = client.post("/api/v1/purchase-orders", headers={**ACME, "Content-Type": "text/csv"},
                        content=(header + "PO-7,Others,DEHAM,A,12,2026-03-20T00:00:00Z\n").encode())
    assert moved.status_code == 422
    assert [(r["row"], r["field"]) for r in moved.json()["refused"]] == [(2, "supplier")]
