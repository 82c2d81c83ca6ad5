"""The support console over HTTP (no browser): sign-in gives an HttpOnly,
SameSite=Strict, expiring session cookie; merchant, device and carrier
tokens are refused; a form without its CSRF token is refused; sign-in is
rate-limited; the pages answer from the same views as the JSON API."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient

from adapters.composition import build_dead_letters
from adapters.settings import Settings
from tests.builders import at
from tests.e2e.conftest import MERCHANT, Clock
from tests.e2e.test_http import BOOKING, TN, post_scan, scan
from tests.e2e.test_operations import letter
from tests.waiting import eventually


def csrf(client: TestClient[Any], path: str = "/agent/sign-in") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert found, "the form carries a CSRF token"
    return found.group(1)


def sign_in(client: TestClient[Any], token: str = "a-token") -> Any:
    return client.post("/agent/sign-in", data={"token": token, "_csrf_token": csrf(client)},
                       follow_redirects=False)


def test_sign_in_gives_a_strict_session_and_sign_out_ends_it(client: TestClient[Any]) -> None:
    assert client.get("/agent", follow_redirects=False).headers["location"] == "/agent/sign-in"
    r = sign_in(client)
    assert r.status_code == 303 and r.headers["location"] == "/agent"
    cookie = next(c for c in r.headers.get_list("set-cookie")
                  if c.startswith("tracking_console="))
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Max-Age=" in cookie
    assert "Path=/agent" in cookie and "Secure" not in cookie  # plain HTTP here
    assert "a-token" not in cookie
    page = client.get("/agent")
    assert page.status_code == 200 and "Open exceptions" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    r = client.post("/agent/sign-out", data={"_csrf_token": csrf(client, "/agent")},
                    follow_redirects=False)
    assert r.status_code == 303
    client.cookies.set("tracking_console", cookie.split(";")[0].split("=", 1)[1], path="/agent")
    assert client.get("/agent", follow_redirects=False).status_code == 303  # signed out


def test_merchant_device_and_carrier_tokens_are_refused(client: TestClient[Any]) -> None:
    for token in ("m-token", "d-token", "c-token"):
        r = sign_in(client, token)
        assert r.status_code == 403 and "only agent and admin" in r.text
        assert "tracking_console=" not in r.headers.get("set-cookie", "")
    assert sign_in(client, "nobody").status_code == 401


def test_a_form_without_its_csrf_token_is_refused(client: TestClient[Any]) -> None:
    client.get("/agent/sign-in")  # the CSRF cookie
    r = client.post("/agent/sign-in", data={"token": "a-token"}, follow_redirects=False)
    assert r.status_code == 403
    assert sign_in(client).status_code == 303
    r = client.post(f"/agent/shipments/{TN}/exceptions/DAMAGED",
                    data={"action": "acknowledge"}, follow_redirects=False)
    assert r.status_code == 403


def test_sign_in_is_rate_limited(client: TestClient[Any]) -> None:
    answers = [sign_in(client, "wrong").status_code for _ in range(7)]
    assert answers[:5] == [401] * 5 and answers[-1] == 429


def test_an_exception_worked_through_the_console(
    client: TestClient[Any], clock: Clock, database_url: str,
) -> None:
    clock.now = at(1)
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    w = post_scan(client, clock, scan("EXCEPTION", "HKHKG", at(2), reason="DAMAGED"))
    assert client.get("/api/v1/track/" + TN, params={"min_position": w["position"]}).status_code == 200
    sign_in(client)
    eventually(lambda: "DAMAGED" in client.get("/agent").text, what="the queue has it")
    assert f"/agent/shipments/{TN}" in client.get("/agent").text
    page = client.get(f"/agent/shipments/{TN}")
    assert page.status_code == 200
    assert "Why it says that" in page.text and "exception scan" in page.text
    assert "Astrid Lindgren" in page.text  # the agent's side
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post(f"/agent/shipments/{TN}/exceptions/DAMAGED",
                    data={"action": "resolve", "text": "repacked", "_csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    eventually(lambda: "resolved by agent:" in client.get(f"/agent/shipments/{TN}").text,
               what="the exceptions view says who resolved it")
    assert "ExceptionResolved" in client.get(f"/agent/shipments/{TN}").text
    assert client.get("/agent/search", params={"tracking_number": TN.lower()},
                      follow_redirects=False).headers["location"] == f"/agent/shipments/{TN}"
    assert client.get("/agent/shipments/NOPE1234").status_code == 404
    assert client.get(f"/agent/shipments/{TN}", params={"as_of": "yesterday"}).status_code == 400

    store = build_dead_letters(Settings(database_url=database_url))
    dead = letter("scanners/hkg/hkg-dock-7/scans", {"scan_id": "x"}, "device_id: missing")
    store.add([dead])
    store.close()
    page = client.get("/agent/dead-letters")
    assert dead.id in page.text
    fixed = '{"scan_id": "x", "device_id": "hkg-dock-7", "tracking_number": "%s", ' \
            '"event": "RECEIVED", "location": "HKHKG", "occurred_at": "2009-03-02T06:00:00Z"}' % TN
    r = client.post(f"/agent/dead-letters/{dead.id}/resubmit",
                    data={"scan": fixed, "_csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert dead.id not in client.get("/agent/dead-letters").text


def test_the_console_speaks_the_agents_language(client: TestClient[Any]) -> None:
    """The console's strings go through the tracking page's catalogues:
    ?lang= or Accept-Language, as there."""
    german = client.get("/agent/sign-in", params={"lang": "de"})
    assert '<html lang="de">' in german.text and german.headers["content-language"] == "de"
    assert "Bei der Support-Konsole anmelden" in german.text and "Agenten-Token" in german.text
    refused = client.post("/agent/sign-in", headers={"Accept-Language": "fr-CH, en;q=0.5"},
                          data={"token": "m-token", "_csrf_token": csrf(client)})
    assert refused.status_code == 403
    assert "seuls les jetons d’agent et d’administrateur" in refused.text
    sign_in(client)
    queue = client.get("/agent", headers={"Accept-Language": "zh-CN"})
    assert "未处理的异常" in queue.text and "没有未处理的异常。" in queue.text
    assert "Open exceptions" in client.get("/agent").text  # English without a preference


def test_the_queue_comes_a_page_at_a_time_oldest_first(
    client: TestClient[Any], clock: Clock, monkeypatch: Any,
) -> None:
    monkeypatch.setattr("adapters.http.console.QUEUE_PAGE", 1)
    clock.now = at(1)
    other = "SHIP0000002"
    for tn, day in ((TN, 2), (other, 3)):
        assert client.post("/api/v1/shipments", json={**BOOKING, "tracking_number": tn},
                           headers=MERCHANT).status_code == 201
        w = post_scan(client, clock, {**scan("EXCEPTION", "HKHKG", at(day), reason="DAMAGED"),
                                      "tracking_number": tn})
    assert client.get(f"/api/v1/track/{other}",
                      params={"min_position": w["position"]}).status_code == 200
    sign_in(client)
    first = client.get("/agent", params={"kind": "DAMAGED"})
    assert f"/agent/shipments/{TN}" in first.text and f"/agent/shipments/{other}" not in first.text
    assert 'href="/agent?page=1&amp;kind=DAMAGED"' in first.text  # the next page, same filter
    second = client.get("/agent", params={"page": "1", "kind": "DAMAGED"})
    assert f"/agent/shipments/{other}" in second.text and f"/agent/shipments/{TN}" not in second.text
    assert 'href="/agent?page=0&amp;kind=DAMAGED"' in second.text and "page=2" not in second.text
