"""The pages in a real browser (Debian's chromium through Playwright): the
form, the page in two languages, the live update after a scan POSTed over
the API, the page with JavaScript off, the 404 page, and an axe-core audit
with no serious or critical violation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.builders import at
from tests.e2e.conftest import MERCHANT
from tests.e2e.test_http import BOOKING, TN, scan
from tests.web.conftest import Server

pytestmark = pytest.mark.browser
WAIT_MS = 15_000  # how long an expectation waits for the page to get there




@pytest.fixture
def shipment(server: Server) -> Server:
    with server.client() as c:
        r = c.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
        assert r.status_code == 201, r.text
        last = server.post_scan(scan("RECEIVED", "HKHKG", at(2, 1)))
        assert c.get(f"/api/v1/track/{TN}", params={"min_position": last}).status_code == 200
    return server


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    options = getattr(request, "param", {})
    context = browser.new_context(**{"locale": "en-GB", **options})
    yield context.new_page()
    context.close()


def test_the_form_opens_the_tracking_page(shipment: Server, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(shipment.url + "/")
    page.get_by_label("Tracking number").fill(TN.lower())
    page.get_by_role("button", name="Track").click()
    expect(page).to_have_url(re.compile(rf"/track/{TN}\?lang=en$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Parcel {TN}")
    expect(page.locator("#status-heading")).to_have_text("In transit")


@pytest.mark.parametrize("page", [{"locale": "de-DE"}], indirect=True)
def test_the_page_in_german_from_the_browser_s_language(shipment: Server, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{shipment.url}/track/{TN}")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#status-heading")).to_have_text("Unterwegs")
    expect(page.locator(".events")).to_contain_text("Angenommen in Hong Kong, HK")
    expect(page.locator(".events time")).to_have_text("2. März 2009, 09:00 (GMT+08:00)")


def test_the_page_in_chinese_by_lang(shipment: Server, page: Any, tmp_path: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{shipment.url}/track/{TN}?lang=zh")
    expect(page.locator("#status-heading")).to_have_text("运输中")
    expect(page.get_by_role("navigation", name="语言").get_by_role("link", name="中文")
           ).to_have_attribute("aria-current", "true")
    page.screenshot(path=str(tmp_path / "zh.png"), full_page=True)


def test_the_page_updates_itself_and_announces_a_scan(shipment: Server, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{shipment.url}/track/{TN}")
    expect(page.locator(".events li")).to_have_count(1)
    # The script has subscribed when the stream answers; then a scan arrives.
    expect(page.locator("#tracking")).to_have_attribute("data-live", "open", timeout=WAIT_MS)
    shipment.post_scan(scan("LOADED", "HKHKG", at(3, 6), voyage="V100"))
    expect(page.locator(".events li")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator(".events li").first).to_contain_text("Loaded onto V100 at Hong Kong, HK")
    expect(page.locator("#announce")).to_have_text("Update: Loaded onto V100 at Hong Kong, HK.")
    assert page.locator("#announce").get_attribute("aria-live") == "polite"
    # No reload: the page is the same document.
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


@pytest.mark.parametrize("page", [{"java_script_enabled": False}], indirect=True)
def test_without_javascript_the_page_is_complete_and_the_form_works(
    shipment: Server, page: Any,
) -> None:
    from playwright.sync_api import expect

    page.goto(shipment.url + "/")
    page.get_by_label("Tracking number").fill(TN)
    page.get_by_role("button", name="Track").click()
    expect(page).to_have_url(re.compile(rf"/track/{TN}"))
    for text in ("In transit", "Last seen at Hong Kong, HK.", "Received at Hong Kong, HK",
                 "Next it will be loaded onto V100 at Hong Kong, HK.", "Expected delivery"):
        expect(page.locator("main")).to_contain_text(text)
    page.get_by_label("Recipient's postcode").fill("11122")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("main")).to_contain_text("Delivering to Stockholm, SE.")
    page.get_by_label("E-mail address").fill("astrid@example.se")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status").filter(has_text="e-mail")).to_have_text(
        "You will get an e-mail when your parcel moves on.")


def test_an_unknown_number_shows_a_404_page_with_the_form(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    response = page.goto(f"{server.url}/track/RR473124829US")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_have_text(
        "We have no parcel with the number RR473124829US.")
    expect(page.get_by_label("Tracking number")).to_have_value("RR473124829US")


def test_axe_finds_no_serious_or_critical_violation(shipment: Server, page: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    for path in ("/", f"/track/{TN}", f"/track/{TN}?postcode=11122&lang=zh",
                 "/track/RR473124829US?lang=fr"):
        page.goto(shipment.url + path)
        violations = axe.run(page).response["violations"]
        bad = [(v["id"], v["impact"], v["help"]) for v in violations
               if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{path}: {bad}"
