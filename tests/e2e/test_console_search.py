"""The console's search: a purchase order number lists each account's order
of that number with the shipments carrying it; a tracking number opens its
shipment; what names nothing says so (404); nothing typed is a 400."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.e2e.test_console import sign_in
from tests.e2e.test_purchase_orders import A, B, C, client, clock, placed  # noqa: F401
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
