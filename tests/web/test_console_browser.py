"""The support console in a real browser (Debian's chromium through
Playwright): sign in, work an exception from open to resolved, read the
explanation, find a shipment by its recipient's name, resubmit a dead letter, resubmit several after a confirmation;
a merchant token refused; a form whose
CSRF token is missing refused; an axe-core audit of every page with no
serious or critical violation; the keyboard alone signs in."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.composition import build_dead_letters
from adapters.settings import Settings
from tests.builders import at
from tests.e2e.conftest import MERCHANT
from tests.e2e.test_http import BOOKING, TN, scan
from tests.e2e.test_operations import letter
from tests.web.conftest import Server
from tests.waiting import eventually

pytestmark = pytest.mark.browser
WAIT_MS = 15_000


@pytest.fixture
def damaged(server: Server) -> Server:
    with server.client() as c:
        assert c.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
        last = server.post_scan(scan("EXCEPTION", "HKHKG", at(2, 1), reason="DAMAGED"))
        assert c.get(f"/api/v1/track/{TN}", params={"min_position": last}).status_code == 200
    return server


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="en-GB")
    yield context.new_page()
    context.close()


def sign_in(server: Server, page: Any, token: str = "a-token") -> None:
    page.goto(server.url + "/agent")
    page.get_by_label("Agent token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def test_an_agent_works_an_exception_from_open_to_resolved(damaged: Server, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(damaged, page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Open exceptions", timeout=WAIT_MS)
    page.get_by_role("link", name=TN).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Shipment {TN}")

    why = page.get_by_role("region", name="Why it says that")
    expect(why.get_by_role("row", name=re.compile("^status"))).to_contain_text("exception scan")
    expect(why.get_by_role("row", name=re.compile("^status"))).to_contain_text("ScanRecorded")

    for action, field, value in (("acknowledge", None, None), ("assign", "Assignee", "Greta"),
                                 ("comment", "Comment or note", "photos asked"),
                                 ("resolve", "Comment or note", "repacked")):
        page.get_by_label("Action").select_option(action)
        if field:
            page.get_by_label(re.compile(field)).fill(value)
        page.get_by_role("button", name="Record").click()
        expect(page.get_by_role("status")).to_contain_text(f"Recorded: {action}", timeout=WAIT_MS)

    def resolved() -> bool:
        page.reload()
        return "resolved by agent:" in page.get_by_role(
            "region", name="Exceptions").inner_text()

    eventually(resolved, what="the page shows the exception resolved")
    timeline = page.get_by_role("region", name="Audit timeline, newest first")
    expect(timeline).to_contain_text("ExceptionResolved")
    expect(timeline).to_contain_text("ExceptionAssigned")
    page.goto(damaged.url + "/agent")
    expect(page.get_by_role("table").first).to_contain_text("No open exception.")


def test_an_agent_finds_a_shipment_by_recipient_name(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    with server.client() as c:
        booked = c.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
        assert booked.status_code == 201
        assert c.get(f"/api/v1/track/{TN}",
                     params={"min_position": booked.json()["position"]}).status_code == 200
    sign_in(server, page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Open exceptions", timeout=WAIT_MS)
    page.get_by_role("searchbox", name="Tracking number, order number or recipient").fill(
        "LINDGREN astrid")  # Astrid Lindgren: any order, any case
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Search: LINDGREN astrid",
                                                              timeout=WAIT_MS)
    found = page.get_by_role("main").get_by_role("listitem")
    expect(found).to_contain_text("Recipient name")
    found.get_by_role("link", name=TN).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Shipment {TN}")


def test_a_dead_letter_is_corrected_and_resubmitted(
    server: Server, page: Any, database_url: str
) -> None:
    from playwright.sync_api import expect

    with server.client() as c:
        assert c.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    store = build_dead_letters(Settings(database_url=database_url))
    broken = {k: v for k, v in scan("RECEIVED", "HKHKG", at(2)).items() if k != "device_id"}
    dead = letter("scanners/hkg/hkg-dock-7/scans", broken, "device_id: missing")
    store.add([dead])
    store.close()
    sign_in(server, page)
    page.get_by_role("link", name="Dead letters").click()
    box = page.get_by_label("Scan to record (JSON)")
    box.fill(json.dumps({**broken, "device_id": "hkg-dock-7"}))
    page.get_by_role("button", name="Resubmit", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Resubmitted {dead.id}", timeout=WAIT_MS)
    expect(page.get_by_text("No dead letter is waiting.")).to_be_visible()


def test_dead_letters_are_resubmitted_in_bulk_after_a_confirmation(
    server: Server, page: Any, database_url: str
) -> None:
    """Two stored as they arrived: one a scan now (its device was not
    registered then), one still not JSON; both ticked, confirmed, 1 of 2."""
    from playwright.sync_api import expect

    with server.client() as c:
        assert c.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    store = build_dead_letters(Settings(database_url=database_url))
    now_a_scan = letter("scanners/hkg/hkg-dock-7/scans", scan("RECEIVED", "HKHKG", at(2)),
                        "device 'hkg-dock-7' is not registered")
    broken = letter("scanners/hkg/hkg-dock-7/scans", b"{not json", "not valid JSON")
    store.add([now_a_scan, broken])
    store.close()
    sign_in(server, page)
    page.get_by_role("link", name="Dead letters").click()
    for box in page.get_by_label(re.compile("Tick to resubmit as stored")).all():
        box.check()
    page.get_by_role("button", name="Resubmit the ticked letters").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm resubmission")
    expect(page.get_by_role("alert")).to_contain_text("Resubmit 2 dead letters")
    page.get_by_role("button", name="Yes, resubmit 2").click()
    expect(page.get_by_role("status")).to_contain_text("Recorded 1 of 2.", timeout=WAIT_MS)
    expect(page.get_by_role("main")).to_contain_text(f"Not recorded: {broken.id}")
    page.get_by_role("link", name=TN).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Shipment {TN}")
    page.goto(server.url + "/agent/dead-letters")
    expect(page.get_by_role("main")).to_contain_text("not valid JSON")
    expect(page.get_by_role("main")).not_to_contain_text("is not registered")


def test_a_merchant_token_is_refused(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(server, page, "m-token")
    expect(page.get_by_role("alert")).to_contain_text("only agent and admin tokens")
    page.goto(server.url + "/agent")
    expect(page).to_have_url(re.compile(r"/agent/sign-in$"))


def test_a_form_without_its_csrf_token_is_refused(damaged: Server, page: Any) -> None:
    sign_in(damaged, page)
    page.goto(f"{damaged.url}/agent/shipments/{TN}")
    page.locator("form.casework input[name=_csrf_token]").first.evaluate("e => e.remove()")
    with page.expect_response(re.compile(r"/exceptions/DAMAGED$")) as answer:
        page.get_by_role("button", name="Record").click()
    assert answer.value.status == 403


def test_the_keyboard_alone_signs_in(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/agent/sign-in")
    page.keyboard.press("Tab")  # the site link
    page.keyboard.press("Tab")  # the token field
    page.keyboard.type("a-token")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Open exceptions", timeout=WAIT_MS)


def test_axe_finds_no_serious_or_critical_violation(
    damaged: Server, page: Any, database_url: str
) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect

    store = build_dead_letters(Settings(database_url=database_url))
    store.add([letter("scanners/hkg/hkg-dock-7/scans", b"{not json", "not valid JSON")])
    store.close()
    axe = Axe()
    page.goto(damaged.url + "/agent/sign-in")
    paths = ["/agent/sign-in"]
    bad = [(v["id"], v["help"]) for v in axe.run(page).response["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == [], f"/agent/sign-in: {bad}"
    sign_in(damaged, page)
    for path in ("/agent", f"/agent/shipments/{TN}", "/agent/dead-letters",
                 "/agent/shipments/NOPE12345", "/agent/search?q=PO-404",
                 "/agent/search?q=Astrid+Lindgren", "/agent?lang=de",
                 "/agent/dead-letters#confirm"):
        page.goto(damaged.url + path)
        if path.endswith("#confirm"):  # the bulk resubmission's confirmation, then its result
            page.get_by_role("button", name=re.compile("Resubmit all")).click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Confirm resubmission")
        paths.append(path)
        violations = axe.run(page).response["violations"]
        bad = [(v["id"], v["impact"], v["help"]) for v in violations
               if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{path}: {bad}"
    page.get_by_role("button", name=re.compile("Yes, resubmit")).click()
    expect(page.get_by_role("status")).to_contain_text("Recorded 0 of 1.")
    bad = [(v["id"], v["impact"], v["help"]) for v in axe.run(page).response["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == [], f"the bulk resubmission's result: {bad}"
