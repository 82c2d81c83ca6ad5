"""GET / and GET /track/{tracking_number}: the customer's page, server
rendered from the tracking view, in the customer's language, with places
in words and times in local time, the security and caching headers, the
postcode that unlocks the destination and the e-mail subscription, and the
404 that keeps the form."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.builders import at
from tests.e2e.conftest import AGENT, MERCHANT, Clock
from tests.e2e.test_http import BOOKING, TN, post_scan, scan

PAGE = f"/track/{TN}"


def text(html: str) -> str:
    """The page's words, without markup."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def booked(client: TestClient[Any], clock: Clock) -> TestClient[Any]:
    r = client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    assert r.status_code == 201, r.text
    post_scan(client, clock, scan("RECEIVED", "HKHKG", at(2, 1)))
    w = post_scan(client, clock, scan("LOADED", "HKHKG", at(3, 6), voyage="V100"))
    assert client.get(f"/api/v1/track/{TN}", params={"min_position": w["position"]}).status_code == 200
    return client


def test_the_front_page_has_one_labelled_field_that_opens_the_tracking_page(
    client: TestClient[Any],
) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert re.search(r'<label for="tracking_number">Tracking number</label>', r.text)
    assert len(re.findall(r"<input [^>]*type=\"text\"", r.text)) == 1
    r = client.get("/track", params={"tracking_number": " lx123456785cn "}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/track/{TN}?lang=en"


def test_the_page_words_status_places_next_step_and_events_newest_first(
    booked: TestClient[Any],
) -> None:
    r = booked.get(PAGE)
    assert r.status_code == 200
    words = text(r.text)
    assert "In transit" in words and "Your parcel is on its way." in words
    assert "Last seen at Hong Kong, HK." in words
    assert "Next it will be unloaded from V100 at Los Angeles, US." in words
    loaded, received = words.index("Loaded onto V100 at Hong Kong, HK"), words.index(
        "Received at Hong Kong, HK")
    assert loaded < received  # newest first
    # In Hong Kong's time (UTC+8), with the offset: 06:00 UTC is 14:00 there.
    assert "Mar 3, 2009, 2:00 PM (GMT+08:00)" in words
    assert "Expected delivery Sun, March 15, 2009" in words  # Stockholm's date
    assert "Planned window Mar 15 – 25, 2009" in words  # ETA to deliver_by
    # The journey: booked and received done, received is where it is now.
    assert re.search(r'class="step-current" aria-current="step">\s*<span[^>]*>●</span>\s*'
                     r'<span class="step-name">Received</span>', r.text)
    assert 'class="step-todo"' in r.text and "(to come)" in words
    assert "Astrid" not in r.text and "11122" not in r.text  # no personal data


def test_the_page_in_the_customer_s_language_and_lang_overrides_it(booked: TestClient[Any]) -> None:
    de = booked.get(PAGE, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert de.headers["content-language"] == "de" and '<html lang="de">' in de.text
    words = text(de.text)
    assert "Unterwegs" in words and "Zuletzt gesehen in Hong Kong, HK." in words
    assert "3. März 2009, 14:00 (GMT+08:00)" in words
    assert "Als Nächstes wird es in Los Angeles, US aus V100 entladen." in words
    zh = booked.get(PAGE, params={"lang": "zh"}, headers={"Accept-Language": "de"})
    assert zh.headers["content-language"] == "zh"
    assert "运输中" in text(zh.text) and "2009年3月3日 14:00 (GMT+08:00)" in text(zh.text)
    fr = booked.get(PAGE, headers={"Accept-Language": "fr-CA"})
    assert "En transit" in text(fr.text)
    es = booked.get(PAGE, headers={"Accept-Language": "pt, es;q=0.8"})
    assert "En tránsito" in text(es.text)
    unknown = booked.get(PAGE, headers={"Accept-Language": "ja"}, params={"lang": "xx"})
    assert unknown.headers["content-language"] == "en"


def test_every_page_has_the_security_headers_and_a_strict_csp(booked: TestClient[Any]) -> None:
    for path in ("/", PAGE, "/track/RR473124829US", "/static/live.js", "/static/page.css"):
        r = booked.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
    page = booked.get(PAGE).text
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)  # no inline handlers either


def test_an_unchanged_page_refreshes_as_a_304_and_a_change_makes_a_new_etag(
    booked: TestClient[Any], clock: Clock,
) -> None:
    first = booked.get(PAGE)
    etag = first.headers["etag"]
    assert "no-cache" in first.headers["cache-control"]
    again = booked.get(PAGE, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other_language = booked.get(PAGE, headers={"If-None-Match": etag, "Accept-Language": "de"})
    assert other_language.status_code == 200 and other_language.headers["etag"] != etag
    w = post_scan(booked, clock, scan("DEPARTED", "HKHKG", at(3, 8), voyage="V100"))
    booked.get(f"/api/v1/track/{TN}", params={"min_position": w["position"]})
    changed = booked.get(PAGE, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    asset = booked.get("/static/live.js")
    assert "immutable" in asset.headers["cache-control"]
    assert booked.get("/static/live.js", headers={"If-None-Match": asset.headers["etag"]}).status_code == 304
    assert booked.get("/static/nothing.js").status_code == 404


def test_an_unknown_number_is_a_404_page_that_keeps_the_form(client: TestClient[Any]) -> None:
    r = client.get("/track/RR473124829US", headers={"Accept-Language": "es"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "No tenemos ningún paquete con el número RR473124829US." in text(r.text)
    assert re.search(r'<input id="tracking_number"[^>]*value="RR473124829US"', r.text, re.S)
    bad = client.get("/track/not-a-number!")
    assert bad.status_code == 400 and "That is not a tracking number" in bad.text
    assert '<form class="lookup"' in bad.text


def test_the_recipient_s_postcode_shows_the_destination_and_the_subscription_form(
    booked: TestClient[Any],
) -> None:
    none = booked.get(PAGE)
    right = booked.get(PAGE, params={"postcode": "111 22"})
    assert "Delivering to Stockholm, SE." in text(right.text)
    assert 'action="/track/LX123456785CN/subscriptions"' in right.text
    wrong = booked.get(PAGE, params={"postcode": "99999"})
    assert wrong.text == none.text and wrong.headers["etag"] == none.headers["etag"]
    assert "Stockholm" not in none.text and "subscriptions" not in none.text


def test_wrong_postcode_guesses_from_one_address_are_limited(booked: TestClient[Any]) -> None:
    for guess in range(10):
        assert booked.get(PAGE, params={"postcode": f"{guess:05}"}).status_code == 200
    limited = booked.get(PAGE, params={"postcode": "11122"})  # even the right one, now
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "Stockholm" not in limited.text and "Too many tries" in limited.text
    assert booked.get(PAGE).status_code == 200  # the page itself still answers


def test_subscribing_records_the_address_on_the_shipment_without_showing_it(
    booked: TestClient[Any],
) -> None:
    form = {"email": "astrid@Example.SE", "postcode": "11122", "lang": "de"}
    r = booked.post(f"{PAGE}/subscriptions", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"{PAGE}?lang=de&postcode=11122&subscribed=1"
    shown = booked.get(r.headers["location"])
    assert "Sie bekommen eine E-Mail" in text(shown.text) and "astrid" not in shown.text
    again = booked.post(f"{PAGE}/subscriptions", data=form, follow_redirects=False)
    assert again.status_code == 303
    history = booked.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    subscribed = [e for e in history if e["type"] == "NotificationSubscribed"]
    assert len(subscribed) == 1  # the same address twice is one subscription
    # The address is recorded sealed: the history does not show it (tracking.personal_data).
    assert subscribed[0]["data"]["subscription"]["email"] == "sealed"
    assert subscribed[0]["data"]["subscription"]["language"] == "de"
    assert "astrid" not in booked.get(f"/api/v1/track/{TN}").text


def test_a_subscription_needs_the_right_postcode_and_an_address(booked: TestClient[Any]) -> None:
    wrong = booked.post(f"{PAGE}/subscriptions", follow_redirects=False,
                        data={"email": "a@example.se", "postcode": "00000"})
    assert wrong.status_code == 303 and wrong.headers["location"] == f"{PAGE}?lang=en"
    bad = booked.post(f"{PAGE}/subscriptions", data={"email": "not an address", "postcode": "11122"})
    assert bad.status_code == 422 and "That is not an e-mail address." in bad.text
    history = booked.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    assert not [e for e in history if e["type"] == "NotificationSubscribed"]


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The language of every page rendered (not served from those kept)."""
    import adapters.http.pages

    tags: list[str] = []
    real = adapters.http.pages.tracking_page

    def counting(view: bytes, lang: Any, places: Any) -> Any:
        tags.append(lang.tag)
        return real(view, lang, places)

    monkeypatch.setattr(adapters.http.pages, "tracking_page", counting)
    return tags


def test_a_page_rendered_before_is_served_again_until_its_view_changes(
    booked: TestClient[Any], clock: Clock, made: list[str],
) -> None:
    first, again = booked.get(PAGE), booked.get(PAGE)
    assert first.content == again.content and made == ["en"]
    booked.get(PAGE, headers={"Accept-Language": "fr"})
    assert made == ["en", "fr"]
    w = post_scan(booked, clock, scan("DEPARTED", "HKHKG", at(3, 8), voyage="V100"))
    booked.get(f"/api/v1/track/{TN}", params={"min_position": w["position"]})
    assert "Departed Hong Kong, HK on V100" in booked.get(PAGE).text and made == ["en", "fr", "en"]


def test_the_pages_kept_rendered_are_bounded_in_bytes(
    booked: TestClient[Any], made: list[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import adapters.http.pages

    monkeypatch.setattr(adapters.http.pages, "RENDERED_BYTES", 1)  # room for none
    first, again = booked.get(PAGE), booked.get(PAGE)
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert made == ["en", "en"]  # nothing kept: rendered again
