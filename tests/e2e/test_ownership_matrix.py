"""Object-level authorisation, role x route x account, over the app's own
route table: a route added without the check fails here.

Every route the app serves is walked. An unguarded one must be listed in
PUBLIC with the reason it needs no token. For every guarded one: no token
is 401, a role the route does not let in is 403, a role it lets in is
neither. For the merchant routes, the merchant of another account
(``rival``) gets, after the account ``acme`` has booked a shipment,
declared it to customs, subscribed a webhook, placed an order and had the
shipment delivered (scored ETAs, a measured lane), exactly what it got
before any of that existed: the same status and the same body (acme's ids
named the same way), on every route, lists included. Acme itself sees its
objects on every route that names one.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.http.auth import Requires
from adapters.settings import NotifySettings, Settings
from tests.builders import at
from tests.e2e.conftest import Clock
from tests.e2e.test_http import BOOKING, TN, iso, post_scan, scan

ACCOUNTS = "merchant:acme-token:acme,merchant:rival-token:rival"
ROLE_TOKENS = {"agent": "a-token", "device": "d-token", "carrier": "c-token", "admin": "x-token"}

# Routes that need no bearer token, and why.
PUBLIC = {
    "/api/v1/track/{tracking_number:str}": "the customer's view: no personal data, no account",
    "/api/v1/track/{tracking_number:str}/stream": "the same view, live",
    "/api/v1/carriers/dcsa/notifications": "a carrier's callback, HMAC-signed (no token)",
    "/api/v1/carriers/aggregator/webhooks": "an aggregator's callback, HMAC-signed (no token)",
    "/livez": "operations: the process answers",
    "/readyz": "operations: stores and broker answer (no object)",
    "/metrics": "operations: counters, no object",
    "/": "the public start page",
    "/track": "the public form's redirect to a tracking page",
    "/track/{tracking_number:str}": "the customer's page (personal data only with the postcode)",
    "/track/{tracking_number:str}/subscriptions": "the customer's e-mail sign-up (needs the postcode)",
    "/static/{name:str}": "the pages' assets",
    "/agent": "the console: an agent's or admin's session cookie (tests/e2e/test_console.py)",
    "/agent/sign-in": "the console's sign-in",
    "/agent/sign-out": "the console: session cookie",
    "/agent/search": "the console: session cookie",
    "/agent/shipments/{tracking_number:str}": "the console: session cookie",
    "/agent/shipments/{tracking_number:str}/exceptions/{kind:str}": "the console: session cookie",
    "/agent/dead-letters": "the console: session cookie",
    "/agent/dead-letters/{letter_id:str}/resubmit": "the console: session cookie",
    "/agent/dead-letters/resubmit": "the console: session cookie (bulk resubmit)",
    "/merchant": "the merchant's pages: a merchant's session cookie, its own account only "
                 "(tests/web/test_merchant_browser.py)",
    "/merchant/sign-in": "the merchant's pages' sign-in",
    "/merchant/sign-out": "the merchant's pages: session cookie",
    "/schema": "the OpenAPI document and its UI",
    "/schema/swagger": "the OpenAPI UI",
    "/schema/openapi.json": "the OpenAPI document",
    "/schema/oauth2-redirect.html": "the OpenAPI UI",
    "/schema/{path:str}": "the OpenAPI document's other renderings",
    "/schema/assets/{file_path:path}": "the OpenAPI UI's assets",
}
PLACEHOLDER_WEBHOOK = "00000000-0000-4000-8000-000000000001"
UNKNOWN = {"tracking_number": "ZZ0000000001", "entry_id": "00000000-0000-4000-8000-0000000000aa",
           "webhook_id": "00000000-0000-4000-8000-0000000000bb", "po_number": "PO-NONE",
           "warehouse": "No Such DC"}
# Query strings so a list has something to filter; a required one missing is a 400 for all.
QUERIES = {
    "/api/v1/lanes/options": {"origin": "HKHKG", "destination": "SESTO"},
    "/api/v1/inventory/inbound": {"warehouse": "SESTO", "days": "366"},
    "/api/v1/inventory/reorder-point": {"warehouse": "SESTO", "sku": "TSHIRT-M",
                                        "daily_demand": "1"},
    "/api/v1/exceptions": {"state": "open"},
}
DECLARATION = {"tracking_number": TN, "destination_country": "SE", "incoterm": "DAP",
               "currency": "EUR", "lines": [{"description": "cotton t-shirt", "hs_code": "610910",
                                             "quantity": 2, "unit_value": "12.50",
                                             "origin_country": "CN"}]}
# Bodies naming acme's objects (the rest are sent empty: refused alike before and after).
BODIES = {("POST", "/api/v1/customs-entries"): DECLARATION,
          ("POST", "/api/v1/purchase-orders/{po_number:str}/shipments"): {
              "tracking_number": TN, "lines": [{"sku": "TSHIRT-M", "quantity": 1}]}}


def handlers(app: Litestar) -> Iterator[tuple[str, str, Requires | None]]:
    """(method, path template, roles guard) of every route handler the app serves."""
    for route in app.routes:
        for method, (handler, _) in getattr(route, "route_handler_map", {}).items():
            if method == "OPTIONS":  # Litestar's own, for every path
                continue
            guards = [g for g in handler.resolve_guards() if isinstance(g, Requires)]
            yield method, route.path, guards[0] if guards else None


def concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+):\w+\}", lambda m: ids.get(m.group(1), "x"), path)


def call(client: TestClient[Any], method: str, path: str, token: str | None,
         ids: dict[str, str]) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = BODIES.get((method, path))
    r = client.request(method, concrete(path, ids), headers=headers,
                       params=QUERIES.get(path), json=body,
                       content=None if body is not None else b"")
    return r.status_code, r.text


@pytest.fixture
def app_client(database_url: str, clock: Clock) -> Iterator[tuple[Litestar, TestClient[Any]]]:
    settings = Settings.from_env({"TRACKING_DATABASE_URL": database_url,
                                  "TRACKING_API_TOKENS": ACCOUNTS + ",agent:a-token,device:d-token,"
                                                         "carrier:c-token,admin:x-token"})
    settings = dataclasses.replace(settings, notify=NotifySettings(allow_private=True))
    app = create_app(build_api(settings, clock=clock))
    with TestClient(app=app) as c:
        yield app, c


def seed_acme(client: TestClient[Any], clock: Clock) -> dict[str, str]:
    """What acme books, declares, subscribes and orders; the ids."""
    acme = {"Authorization": "Bearer acme-token"}
    r = client.post("/api/v1/shipments", json=BOOKING, headers=acme)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/warehouses", json={"name": "Stockholm DC", "locode": "SESTO"},
                    headers=acme)
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/purchase-orders", headers=acme, json={
        "po_number": "PO-1", "supplier": "Acme Supplier", "warehouse": "SESTO",
        "lines": [{"sku": "TSHIRT-M", "quantity": 100, "need_by": iso(at(20))}]})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/purchase-orders/PO-1/shipments", headers=acme, json={
        "tracking_number": TN, "lines": [{"sku": "TSHIRT-M", "quantity": 40}]})
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/customs-entries", json=DECLARATION, headers=acme)
    assert r.status_code == 201, r.text
    entry = r.json()["entry_id"]
    r = client.post("/api/v1/webhooks", headers=acme, json={
        "url": "http://127.0.0.1:9/hook", "events": ["shipment.delivered"]})
    assert r.status_code == 201, r.text
    webhook = r.json()["id"]
    for body in (scan("RECEIVED", "HKHKG", at(2)), scan("LOADED", "HKHKG", at(3), voyage="V100"),
                 scan("DELIVERED", "SESTO", at(16))):
        position = post_scan(client, clock, body)["position"]
    r = client.get("/api/v1/eta/accuracy", params={"min_position": position},
                   headers={"Authorization": "Bearer a-token"})
    assert r.status_code == 200 and r.json()["n"] == 1, r.text  # the views have it all
    return {"tracking_number": TN, "entry_id": entry, "webhook_id": webhook, "po_number": "PO-1",
            "supplier": "Acme Supplier", "warehouse": "Stockholm DC"}


@pytest.fixture
def seeded(app_client: tuple[Litestar, TestClient[Any]], clock: Clock,
           ) -> tuple[Litestar, TestClient[Any], dict[str, str]]:
    app, client = app_client
    return app, client, seed_acme(client, clock)


def test_every_route_is_guarded_or_listed_public(app_client: tuple[Litestar, TestClient[Any]]) -> None:
    app, _ = app_client
    served = list(handlers(app))
    unguarded = {path for _, path, guard in served if guard is None}
    assert unguarded - set(PUBLIC) == set(), "routes with no token check: guard them or list why"
    assert set(PUBLIC) - unguarded == set(), "listed as public but guarded, or gone"


def test_a_merchant_sees_nothing_of_another_account_on_any_route(
    app_client: tuple[Litestar, TestClient[Any]], clock: Clock
) -> None:
    app, client = app_client
    merchant_routes = [(m, p) for m, p, g in handlers(app) if g is not None and "merchant" in g.roles]
    assert len(merchant_routes) > 20
    entry = "e0000000-0000-4000-8000-000000000000"  # acme's, once declared: named alike below
    before_ids = {"tracking_number": TN, "entry_id": entry, "webhook_id": PLACEHOLDER_WEBHOOK,
                  "po_number": "PO-1", "supplier": "Acme Supplier", "warehouse": "Stockholm DC"}
    start = clock.now
    before = {(m, p): call(client, m, p, "rival-token", before_ids) for m, p in merchant_routes}
    ids = seed_acme(client, clock)
    clock.now = start  # what depends on now (lanes, stock) is asked at the same moment

    def named_alike(text: str) -> str:
        return text.replace(ids["entry_id"], entry).replace(ids["webhook_id"], PLACEHOLDER_WEBHOOK)

    leaks = {}
    for m, p in merchant_routes:
        status, text = call(client, m, p, "rival-token", ids)
        if (status, named_alike(text)) != before[(m, p)]:
            leaks[f"{m} {p}"] = (before[(m, p)], (status, text))
        assert status != 500, f"{m} {p}: {text}"  # a path parameter no check knows fails closed
    assert leaks == {}, "a merchant's answer changed when another account's objects appeared"

    # The objects are there for their owner: on each route naming one, acme's answer is not
    # the not-found the rival gets.
    for m, p in merchant_routes:
        named = set(re.findall(r"\{(\w+):", p)) & {"tracking_number", "entry_id", "webhook_id",
                                                   "po_number", "warehouse"}
        if named and m == "GET":
            own = call(client, m, p, "acme-token", ids)
            assert own[0] == 200, f"{m} {p}: {own}"
            assert own != call(client, m, p, "rival-token", ids)


def test_an_unknown_object_and_another_account_s_answer_alike(
    seeded: tuple[Litestar, TestClient[Any], dict[str, str]]
) -> None:
    app, client, ids = seeded
    for m, p, guard in handlers(app):
        names = set(re.findall(r"\{(\w+):", p)) & set(UNKNOWN)
        if guard is None or "merchant" not in guard.roles or not names:
            continue
        theirs = call(client, m, p, "rival-token", ids)
        unknown = call(client, m, p, "rival-token", {**ids, **{n: UNKNOWN[n] for n in names}})
        text = theirs[1]
        for n in names:
            text = text.replace(ids[n], UNKNOWN[n])
        assert (theirs[0], text) == unknown, f"{m} {p}"
        if names - {"po_number"}:  # checked by the guard before the body is read: not found
            assert theirs[0] == 404, f"{m} {p}: {theirs}"


def test_roles_each_route_lets_in_and_no_token(
    seeded: tuple[Litestar, TestClient[Any], dict[str, str]]
) -> None:
    app, client, ids = seeded
    # Deleting last: the admin's DELETE of acme's webhook is allowed (admins see all).
    guarded = sorted(((m, p, g) for m, p, g in handlers(app) if g is not None),
                     key=lambda x: x[0] == "DELETE")
    for m, p, guard in guarded:
        assert call(client, m, p, None, ids)[0] == 401, f"{m} {p}"
        for role, token in ROLE_TOKENS.items():
            status, text = call(client, m, p, token, ids)
            if role in guard.roles:
                assert status not in (401, 403, 500), f"{role} {m} {p}: {text}"
            else:
                assert status == 403, f"{role} {m} {p}: {status} {text}"
        status, _ = call(client, m, p, "acme-token", ids)
        assert (status == 403) == ("merchant" not in guard.roles), f"acme {m} {p}"


def test_agents_see_every_account_and_each_view_says_whose(
    seeded: tuple[Litestar, TestClient[Any], dict[str, str]]
) -> None:
    _, client, _ = seeded
    agent = {"Authorization": "Bearer a-token"}
    assert client.get(f"/api/v1/shipments/{TN}", headers=agent).json()["account"] == "acme"
    orders = client.get("/api/v1/purchase-orders", headers=agent).json()
    assert [(o["account"], o["po_number"]) for o in orders] == [("acme", "PO-1")]
    assert client.get("/api/v1/purchase-orders",
                      headers={"Authorization": "Bearer rival-token"}).json() == []
    assert client.get("/api/v1/eta/accuracy",
                      headers={"Authorization": "Bearer rival-token"}).json()["n"] == 0
    assert client.get("/api/v1/eta/accuracy",
                      headers={"Authorization": "Bearer acme-token"}).json()["n"] == 1
    lanes = {"origin": "HKHKG", "destination": "SESTO"}
    assert client.get("/api/v1/lanes/options", params=lanes, headers=agent).json()["options"]
    assert client.get("/api/v1/lanes/options", params=lanes,
                      headers={"Authorization": "Bearer rival-token"}).json()["options"] == []


def test_a_merchant_cannot_book_over_or_declare_for_another_account_s_shipment(
    seeded: tuple[Litestar, TestClient[Any], dict[str, str]]
) -> None:
    _, client, _ = seeded
    rival = {"Authorization": "Bearer rival-token"}
    same = client.post("/api/v1/shipments", json=BOOKING, headers=rival)
    # the number is taken (numbers are global), but nothing of acme's shipment is answered
    assert same.status_code == 409 and "Astrid" not in same.text and "acme" not in same.text
    declared = client.post("/api/v1/customs-entries", headers=rival,
                           json={**DECLARATION, "destination_country": "DE"})
    assert declared.status_code == 404, declared.text
    assert declared.json()["detail"] == f"no shipment is booked under tracking number {TN}"

