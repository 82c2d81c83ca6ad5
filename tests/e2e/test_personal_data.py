"""The recipient's personal data over HTTP, on SQLite and PostgreSQL: sealed
where it is kept, opened for agents (each read on the record), erased on
request with everything derived unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import Api, create_app
from adapters.settings import Settings
from projections.shipments import READ_MODEL as SHIPMENTS
from tests.builders import at
from tests.e2e.conftest import AGENT, DEVICE, MERCHANT, Clock
from tests.e2e.test_http import BOOKING, TN, post_scan, scan
from tracking.identifiers import shipment_id
from tracking.personal_data import subject_of

ADMIN = {"Authorization": "Bearer x-token"}
OTHER_AGENT = {"Authorization": "Bearer b-token"}
NAME = "Zygmunta Quellbrook"
EMAIL = "zygmunta@quellbrook.example"
TOKENS = {"m-token": "merchant", "a-token": "agent", "b-token": "agent", "d-token": "device",
          "x-token": "admin"}


@pytest.fixture
def api(database_url: str, clock: Clock) -> Api:
    return build_api(Settings(database_url=database_url, api_tokens=TOKENS), clock=clock)


@pytest.fixture
def client(api: Api) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(api)) as c:
        yield c


def book(client: TestClient[Any], clock: Clock) -> int:
    clock.now = at(2)
    body = {**BOOKING, "recipient": {"name": NAME, "postcode": "111 22", "country": "SE"}}
    r = client.post("/api/v1/shipments", json=body, headers=MERCHANT)
    assert r.status_code == 201, r.text
    assert r.json()["recipient"]["name"] == NAME  # the booking's answer shows what was booked
    again = client.post("/api/v1/shipments", json=body, headers=MERCHANT)
    assert again.status_code == 200, again.text  # the same body again: sealed alike, a no-op
    post_scan(client, clock, scan("RECEIVED", "HKHKG", at(2, 8)))
    return post_scan(client, clock, scan("LOADED", "HKHKG", at(3), voyage="V100"))["position"]


def full(client: TestClient[Any], position: int, headers: dict[str, str] = AGENT,
         **params: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/shipments/{TN}", headers=headers,
                   params={"min_position": position, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_recipient_is_kept_sealed_and_shown_to_agents(
    client: TestClient[Any], clock: Clock, api: Api,
) -> None:
    position = book(client, clock)
    view = full(client, position)
    assert view["recipient"] == {"name": NAME, "postcode": "111 22", "country": "SE",
                                 "erased": False}
    # What the shipments view keeps is ciphertext, and the history shows neither value.
    kept = api.store[SHIPMENTS].full_view(shipment_id(TN))
    assert kept is not None and NAME.encode() not in kept and b"111 22" not in kept
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).text
    assert NAME not in history and '"personal_data":"sealed"' in history
    assert NAME not in client.get(f"/api/v1/track/{TN}").text


def test_erasure_blanks_the_recipient_everywhere_and_changes_nothing_derived(
    client: TestClient[Any], clock: Clock, api: Api,
) -> None:
    position = book(client, clock)
    subscribed = client.post(f"/track/{TN}/subscriptions", follow_redirects=False,
                             data={"email": EMAIL, "postcode": "11122", "lang": "en"})
    assert subscribed.status_code == 303
    assert "Stockholm" in client.get(f"/track/{TN}", params={"postcode": "11122"}).text
    before_track = client.get(f"/api/v1/track/{TN}", params={"min_position": position}).json()
    before = full(client, position)
    clock.now = at(4)

    assert client.delete(f"/api/v1/shipments/{TN}/personal-data",
                         headers=MERCHANT).status_code == 403
    r = client.request("DELETE", f"/api/v1/shipments/{TN}/personal-data", headers=AGENT,
                       json={"reason": "the recipient asked (ticket 4711)"})
    assert r.status_code == 200, r.text
    erased = r.json()
    assert erased["erased"] is True and erased["reason"] == "the recipient asked (ticket 4711)"
    assert erased["by"].startswith("agent:")
    again = client.delete(f"/api/v1/shipments/{TN}/personal-data", headers=ADMIN)
    assert again.status_code == 200 and again.json()["erased"] is False

    after = full(client, erased["position"])
    assert after["recipient"] == {"name": None, "postcode": None, "country": "SE",
                                  "erased": True}
    assert after["personal_data_erased_at"] == at(4).isoformat().replace("+00:00", "Z")
    derived = ("status", "transport_status", "routing_status", "eta", "eta_window", "events",
               "next_expected", "exceptions", "last_location", "route", "booked_at")
    assert {k: after[k] for k in derived} == {k: before[k] for k in derived}
    assert client.get(f"/api/v1/track/{TN}").json() == before_track
    # The history says who, when and why; the postcode check and the address are gone.
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    record = [e for e in history if e["type"] == "PersonalDataErased"]
    assert len(record) == 1 and record[0]["source"] == {"kind": "agent", "id": erased["by"]}
    assert record[0]["data"]["reason"] == "the recipient asked (ticket 4711)"
    assert "Stockholm" not in client.get(f"/track/{TN}", params={"postcode": "11122"}).text
    shipment = api.service.get(TN)
    assert [api.service.personal_data.open(subject_of(shipment.id), "email", s.email)
            for s in shipment.subscriptions] == [None]
    # Booking it again with a recipient cannot bring the data back.
    body = {**BOOKING, "recipient": {"name": NAME, "postcode": "111 22", "country": "SE"}}
    assert client.post("/api/v1/shipments", json=body, headers=MERCHANT).status_code == 409
    # Scans go on as before.
    clock.now = at(9, 5)
    r = client.post("/api/v1/scans", json=scan("UNLOADED", "USLAX", at(9)), headers=DEVICE)
    assert r.status_code == 201, r.text
    assert full(client, r.json()["position"])["transport_status"] == "AT_FACILITY"


def test_an_unknown_shipment_s_personal_data_is_a_404(client: TestClient[Any]) -> None:
    r = client.delete("/api/v1/shipments/RR473124829US/personal-data", headers=AGENT)
    assert r.status_code == 404, r.text


def test_every_agent_read_of_personal_data_is_on_the_record(
    client: TestClient[Any], clock: Clock,
) -> None:
    position = book(client, clock)
    full(client, position, headers={**AGENT, "X-Access-Reason": "customer called, ticket 12"})
    full(client, position, headers=OTHER_AGENT, reason="address check")
    full(client, position, as_of=datetime.now(UTC).isoformat())  # recorded by now; no reason
    mine = client.get("/api/v1/access-records", headers=AGENT)
    assert mine.status_code == 200, mine.text
    assert [(r["what"], r["reason"]) for r in mine.json()] == [
        ("shipment view", "customer called, ticket 12"), ("shipment view as_of", "none given")]
    assert {r["role"] for r in mine.json()} == {"agent"} and all(
        r["tracking_number"] == TN for r in mine.json())
    theirs = client.get("/api/v1/access-records", headers=OTHER_AGENT).json()
    assert [(r["what"], r["reason"]) for r in theirs] == [("shipment view", "address check")]
    everyone = client.get("/api/v1/access-records", headers=ADMIN,
                          params={"tracking_number": TN}).json()
    # The merchant's booking answers are on it too: they showed the recipient.
    assert [r["what"] for r in everyone] == ["booking answer", "booking answer", "shipment view",
                                              "shipment view", "shipment view as_of"]
    assert client.get("/api/v1/access-records", headers=MERCHANT).status_code == 403
    too_long = client.get(f"/api/v1/shipments/{TN}", headers=AGENT, params={"reason": "x" * 201})
    assert too_long.status_code == 422 and "reason" in too_long.text


def test_the_console_s_shipment_page_is_on_the_record(
    client: TestClient[Any], clock: Clock,
) -> None:
    from tests.e2e.test_console import sign_in

    book(client, clock)
    assert sign_in(client).status_code == 303
    page = client.get(f"/agent/shipments/{TN}", params={"reason": "complaint 99"})
    assert page.status_code == 200 and NAME in page.text
    records = client.get("/api/v1/access-records", headers=AGENT).json()
    assert [(r["what"], r["reason"]) for r in records] == [("console shipment page",
                                                            "complaint 99")]
    client.delete(f"/api/v1/shipments/{TN}/personal-data", headers=AGENT)
    page = client.get(f"/agent/shipments/{TN}")
    assert page.status_code == 200 and NAME not in page.text and "Erased" in page.text
    # An erased recipient shows nothing, so reading it is not a read of personal data.
    assert len(client.get("/api/v1/access-records", headers=AGENT).json()) == 1
