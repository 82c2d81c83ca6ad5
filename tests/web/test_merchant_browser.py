"""The merchant's purchase orders page in a real browser (Debian's chromium
through Playwright): a merchant token signs in (an agent's is refused), the
order at risk comes first with why, the chart of stock arriving is an image
named for the warehouse with its figures in a table, another account's
order is not shown, the page speaks the browser's language, the session
cookie is HttpOnly and SameSite=Strict, and axe-core finds no serious or
critical violation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.settings import Settings
from tests.builders import at
from tests.web.conftest import Server, serve

pytestmark = pytest.mark.browser
WAIT_MS = 15_000
ACME = {"Authorization": "Bearer acme-token"}
OTHER = {"Authorization": "Bearer other-token"}


@pytest.fixture
def merchants(database_url: str) -> Iterator[Server]:
    """Two merchants' accounts, each with orders; acme's PO-2 at risk."""
    settings = Settings.from_env({
        "TRACKING_DATABASE_URL": database_url,
        "TRACKING_API_TOKENS": "merchant:acme-token:acme,merchant:other-token:other,"
                               "agent:a-token",
    })
    for server in serve(settings):
        with server.client() as c:
            last = 0
            for headers, tn, po, arrives, need_by in (
                (ACME, "SHIPA00001", "PO-1", 10, 30),  # in by day 10, needed by day 30
                (ACME, "SHIPB00002", "PO-2", 20, 15),  # in by day 20, needed by day 15: late
                (OTHER, "SHIPC00003", "PO-9", 12, 30),
            ):
                assert c.post("/api/v1/shipments", headers=headers, json={
                    "tracking_number": tn, "carrier": "maersk", "origin": "HKHKG",
                    "destination": "SESTO",
                    "route": [{"voyage": f"V{tn[-1]}", "mode": "sea", "from": "HKHKG",
                               "to": "SESTO", "departs_at": at(2).isoformat(),
                               "arrives_at": at(arrives).isoformat()}]}).status_code == 201
                assert c.post("/api/v1/purchase-orders", headers=headers, json={
                    "po_number": po, "supplier": "Shenzhen Tees", "warehouse": "SESTO",
                    "lines": [{"sku": "TSHIRT-M", "quantity": 100,
                               "need_by": at(need_by).isoformat()}]}).status_code == 201
                r = c.post(f"/api/v1/purchase-orders/{po}/shipments", headers=headers, json={
                    "tracking_number": tn, "lines": [{"sku": "TSHIRT-M", "quantity": 40}]})
                assert r.status_code == 201, r.text
                last = max(last, r.json()["position"])
            assert c.get("/api/v1/purchase-orders", headers=ACME,
                         params={"min_position": last}).status_code == 200
        yield server


def browse(browser: Any, locale: str = "en-GB") -> Any:
    return browser.new_context(locale=locale).new_page()


def sign_in(server: Server, page: Any, token: str = "acme-token",
            label: str = "Merchant token", button: str = "Sign in") -> None:
    page.goto(server.url + "/merchant")
    page.get_by_label(label).fill(token)
    page.get_by_role("button", name=button).click()


def test_a_merchant_sees_the_order_at_risk_first_and_what_arrives_when(
    merchants: Server, browser: Any,
) -> None:
    from playwright.sync_api import expect

    page = browse(browser)
    sign_in(merchants, page)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Purchase orders and stock arriving", timeout=WAIT_MS)
    expect(page.get_by_role("status")).to_have_text("Orders at risk: 1 of 2")

    orders = page.get_by_role("article")
    expect(orders).to_have_count(2)  # PO-9 is the other account's
    expect(orders.nth(0).get_by_role("heading")).to_contain_text("PO-2")
    expect(orders.nth(0).get_by_role("heading")).to_contain_text("At risk")
    expect(orders.nth(0)).to_contain_text("shipment SHIPB00002 may arrive by")
    expect(orders.nth(1).get_by_role("heading")).to_contain_text("On track")
    line = orders.nth(0).get_by_role("row", name="TSHIRT-M")
    expect(line.get_by_role("cell")).to_have_text(
        ["Sun, March 15, 2009", "100", "40", "40", "0", "0", "⚠ At risk"], use_inner_text=True)
    assert "PO-9" not in page.content()

    chart = page.get_by_role("img", name="Units arriving at SESTO per day")
    expect(chart).to_be_visible()
    expect(chart).to_have_accessible_description(
        "80 units at the expected times, 80 if each shipment arrives at its latest.")
    days = page.get_by_role("table", name="Units arriving at SESTO, by day")
    expect(days.get_by_role("row")).to_have_count(3)  # the header, day 10 and day 20
    expect(days.get_by_role("row").nth(1)).to_contain_text("TSHIRT-M 40")

    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["tracking_merchant"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert session["path"] == "/merchant"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Merchant token")).to_be_visible()
    page.context.close()


def test_the_page_speaks_the_browser_s_language(merchants: Server, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browse(browser, "de-DE")
    sign_in(merchants, page, label="Händler-Token", button="Anmelden")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Bestellungen und ankommender Bestand", timeout=WAIT_MS)
    expect(page.get_by_role("status")).to_have_text("Gefährdete Bestellungen: 1 von 2")
    expect(page.get_by_role("img", name="Einheiten pro Tag mit Ankunft in SESTO")).to_be_visible()
    expect(page.get_by_role("article").nth(0).get_by_role("row", name="TSHIRT-M")
           .get_by_role("cell").nth(0)).to_have_text("So., 15. März 2009")
    page.context.close()


def test_an_agent_token_cannot_sign_in_and_no_session_sees_no_order(
    merchants: Server, browser: Any,
) -> None:
    from playwright.sync_api import expect

    page = browse(browser)
    sign_in(merchants, page, token="a-token")
    expect(page.get_by_role("alert")).to_have_text("Only a merchant token can sign in here.",
                                                   timeout=WAIT_MS)
    with merchants.client() as c:
        r = c.get("/merchant", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/merchant/sign-in")
        assert c.post("/merchant/sign-out", follow_redirects=False).status_code in (401, 403)
    page.context.close()


def test_axe_finds_no_serious_or_critical_violation(merchants: Server, browser: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe, page = Axe(), browse(browser)
    page.goto(merchants.url + "/merchant/sign-in")
    for path in ("/merchant/sign-in", "/merchant"):
        if path == "/merchant":
            sign_in(merchants, page)
            page.get_by_role("heading", level=1).wait_for(timeout=WAIT_MS)
        bad = [(v["id"], v["impact"], v["help"]) for v in axe.run(page).response["violations"]
               if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{path}: {bad}"
    page.context.close()


def test_a_named_warehouse_shows_by_its_name_on_the_orders_and_the_chart(
    merchants: Server, browser: Any,
) -> None:
    from playwright.sync_api import expect

    with merchants.client() as c:
        r = c.post("/api/v1/warehouses", headers=ACME,
                   json={"name": "Stockholm DC", "locode": "SESTO"})
        assert r.status_code == 201, r.text
        assert c.get("/api/v1/warehouses", headers=ACME,
                     params={"min_position": r.json()["position"]}).status_code == 200
    page = browse(browser)
    sign_in(merchants, page)
    orders = page.get_by_role("article")
    expect(orders.nth(0)).to_contain_text("to Stockholm DC (SESTO)", timeout=WAIT_MS)
    expect(page.get_by_role("img", name="Units arriving at Stockholm DC (SESTO) per day")
           ).to_be_visible()
    page.context.close()
    other = browse(browser)  # the other account did not name it: its page says SESTO
    sign_in(merchants, other, token="other-token")
    expect(other.get_by_role("img", name="Units arriving at SESTO per day")).to_be_visible(
        timeout=WAIT_MS)
    other.context.close()
