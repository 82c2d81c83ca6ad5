"""Purchase orders at risk, end to end: a shipment carrying an order's line
it may arrive after (its window's latest after the line's need_by) opens a
PO_AT_RISK exception in the agents' queue and sends `purchase_order.at_risk`
to the account's real receiver (signatures verified by the Standard
Webhooks reference implementation), once per line newly at risk; counting
the goods in closes it; another account hears nothing."""

from __future__ import annotations

from typing import Any

from tests.builders import at
from tests.e2e.test_http import TN
from tests.notify.receiver import Receiver
from tests.notify.test_webhooks import ACME, OTHER, System, system  # noqa: F401  (its fixture)
from tests.waiting import eventually

AGENT = {"Authorization": "Bearer a-token"}
AT_RISK = "purchase_order.at_risk"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def po_exceptions(system: System, state: str, position: int) -> list[dict[str, Any]]:
    found = ok(system.client.get("/api/v1/exceptions", headers=AGENT, params={
        "state": state, "min_position": position}))
    return [e for e in found if e["kind"] == "PO_AT_RISK"]


def test_a_line_newly_at_risk_raises_po_at_risk_and_notifies_its_account_once(
    system: System,
) -> None:
    mine, theirs = Receiver(), Receiver()
    hook = system.subscribe(mine.url, ACME, events=[AT_RISK])
    system.subscribe(theirs.url, OTHER, events=[AT_RISK, "shipment.exception_raised"])
    system.book()  # arrives on day 15, deliver_by day 25: the window's latest is day 25
    ok(system.client.post("/api/v1/purchase-orders", headers=ACME, json={
        "po_number": "PO-1", "supplier": "Shenzhen Tees", "warehouse": "SESTO",
        "lines": [{"sku": "TSHIRT-M", "quantity": 100, "need_by": at(20).isoformat()},
                  {"sku": "CAP", "quantity": 50, "need_by": at(28).isoformat()}]}), 201)
    notified = ok(system.client.post("/api/v1/purchase-orders/PO-1/shipments", headers=ACME,
                                     json={"tracking_number": TN, "lines": [
                                         {"sku": "TSHIRT-M", "quantity": 100},
                                         {"sku": "CAP", "quantity": 50}]}), 201)
    order = ok(system.client.get("/api/v1/purchase-orders/PO-1", headers=ACME,
                                 params={"min_position": notified["position"]}))
    assert [line["at_risk"] for line in order["lines"]] == [True, False]  # the view agrees

    eventually(lambda: len(mine.bodies()) == 1, what="the at-risk message")
    (_, first), = mine.verified(hook["secret"])
    assert first["type"] == AT_RISK and first["data"]["tracking_number"] == TN
    assert first["data"]["account"] == "acme"
    (line,) = first["data"]["purchase_orders"]
    assert (line["po_number"], line["sku"], line["quantity"]) == ("PO-1", "TSHIRT-M", 100)
    assert line["need_by"] == "2009-03-20T00:00:00Z" and line["latest"] == "2009-03-25T00:00:00Z"
    (raised,) = po_exceptions(system, "open", notified["position"])
    assert raised["tracking_number"] == TN and "PO-1 TSHIRT-M" in raised["details"]

    # CAP now needed earlier: newly at risk, one more message (TSHIRT-M is not told again)
    amended = ok(system.client.post("/api/v1/purchase-orders/PO-1/lines", headers=ACME, json={
        "lines": [{"sku": "TSHIRT-M", "quantity": 100, "need_by": at(20).isoformat()},
                  {"sku": "CAP", "quantity": 50, "need_by": at(22).isoformat()}]}))
    eventually(lambda: len(mine.bodies()) == 2, what="the second at-risk message")
    assert [x["sku"] for x in mine.bodies()[1]["data"]["purchase_orders"]] == ["CAP"]
    (still,) = po_exceptions(system, "open", amended["position"])
    assert still["raised_at"] == raised["raised_at"]  # the same exception, still open

    # counted in: nothing of the order is on its way any more, and the exception closes
    received = ok(system.client.post("/api/v1/purchase-orders/PO-1/receipts", headers=ACME,
                                     json={"tracking_number": TN, "received_at": at(16).isoformat(),
                                           "lines": [{"sku": "TSHIRT-M", "quantity": 100},
                                                     {"sku": "CAP", "quantity": 50}]}), 201)
    assert po_exceptions(system, "open", received["position"]) == []
    (closed,) = po_exceptions(system, "closed", received["position"])
    assert closed["raised_at"] == raised["raised_at"]
    history = ok(system.client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT))
    assert [e["type"] for e in history].count("CargoNotified") == 3
    assert len(mine.bodies()) == 2 and theirs.requests == []
