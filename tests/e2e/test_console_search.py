"""The console's search: a purchase order number lists each account's order
of that number with the shipments carrying it; a tracking number opens its
shipment; the words of a recipient's name list its shipments, each put on
the access trail (never once erased; never for a merchant, who has no
console); what names nothing says so (404); nothing typed is a 400."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.e2e.test_console import sign_in
from tests.e2e.test_http import BOOKING, TN
from tests.e2e.test_purchase_orders import A, ACME, AGENT, B, C, client, clock, placed  # noqa: F401
from tests.waiting import eventually


def test_search_finds_orders_by_number_and_shipments_by_tracking_number(
    client: TestClient[Any],  # noqa: F811
) -> None:
    placed(client)
    assert sign_in(client).status_code == 303

    def order_found() -> Any:
        page = client.get("/agent/search", params={"q": " PO-1 "})
        return page if page.status_code == 200 and C in page.text else None

    page = eventually(order_found, what="the purchase orders view has PO-1 and its notices")
    assert "PO-1 · Shenzhen Tees → DEHAM (account acme)" in page.text
    for tn in (A, B, C):
        assert f'href="/agent/shipments/{tn}"' in page.text
    assert "3 matches" not in page.text and "1 match for" in page.text  # one order

    r = client.get("/agent/search", params={"q": B.lower()}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/agent/shipments/{B}"
    missing = client.get("/agent/search", params={"q": "PO-404"})
    assert missing.status_code == 404 and "Nothing found for “PO-404”" in missing.text
    assert client.get("/agent/search", params={"q": "  "}).status_code == 400


def test_an_agent_finds_a_shipment_by_recipient_name_and_the_search_is_on_the_record(
    client: TestClient[Any],  # noqa: F811
) -> None:
    body = {**BOOKING, "recipient": {"name": "Zoé Lindqvist-Berg", "postcode": "11122",
                                     "country": "SE"}}
    assert client.post("/api/v1/shipments", json=body, headers=ACME).status_code == 201
    assert client.post("/api/v1/shipments", json=body, headers=ACME).status_code in (200, 201)
    assert sign_in(client).status_code == 303

    def found() -> Any:
        page = client.get("/agent/search", params={"q": "ZOÉ lindqvist-berg",
                                                   "reason": "caller asked where it is"})
        return page if page.status_code == 200 else None

    page = eventually(found, what="the shipments view has the booking")
    assert "Recipient name" in page.text and f'href="/agent/shipments/{TN}"' in page.text
    assert "1 match for" in page.text
    trail = client.get("/api/v1/access-records", headers=AGENT,
                       params={"tracking_number": TN}).json()
    searched = [r for r in trail if r["what"] == "search by recipient name"]
    assert [(r["tracking_number"], r["reason"], r["role"]) for r in searched] == [
        (TN, "caller asked where it is", "agent")]
    assert client.get("/agent/search", params={"q": "Zoé Lindqvist"}).status_code == 404

    r = client.delete(f"/api/v1/shipments/{TN}/personal-data", headers=AGENT)
    assert r.status_code == 200, r.text
    assert client.get("/agent/search", params={"q": "zoé"}).status_code == 404  # erased: not found
    assert len([x for x in client.get("/api/v1/access-records", headers=AGENT).json()
                if x["what"] == "search by recipient name"]) == 1  # nothing found: nothing read


def test_a_merchant_cannot_search_by_recipient_name(client: TestClient[Any]) -> None:  # noqa: F811
    assert client.post("/api/v1/shipments", json=BOOKING, headers=ACME).status_code == 201
    r = sign_in(client, "acme-token")
    assert r.status_code == 403 and "tracking_console=" not in r.headers.get("set-cookie", "")
    r = client.get("/agent/search", params={"q": "Astrid Lindgren"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/agent/sign-in"
    r = client.get("/agent/search", params={"q": "Astrid Lindgren"}, headers=ACME,
                   follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/agent/sign-in"
    assert client.get("/api/v1/access-records", headers=AGENT).json() == []
