"""The HTTP contract end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http import app as app_module
from adapters.http.app import create_app
from adapters.http.auth import principal
from adapters.settings import Settings
from tests.builders import at
from tests.e2e.conftest import AGENT, CARRIER, DEVICE, MERCHANT, Clock

TN = "LX123456785CN"


def iso(t: datetime) -> str:
    return t.isoformat()


def leg(voyage: str, frm: str, to: str, dep: int, arr: int, mode: str = "sea") -> dict[str, Any]:
    return {"voyage": voyage, "mode": mode, "from": frm, "to": to,
            "departs_at": iso(at(dep)), "arrives_at": iso(at(arr))}


BOOKING = {
    "tracking_number": TN.lower(), "carrier": "postnord", "origin": "HKHKG",
    "destination": "SESTO", "deliver_by": iso(at(25)),
    "recipient": {"name": "Astrid Lindgren", "postcode": "11122", "country": "SE"},
    "route": [leg("V100", "HKHKG", "USLAX", 3, 9), leg("R200", "USLAX", "USNYC", 10, 13, "rail"),
              leg("A300", "USNYC", "SESTO", 14, 15, "air")],
}


def scan(event: str, location: str, when: datetime, **extra: Any) -> dict[str, Any]:
    return {"scan_id": uuid.uuid4().hex, "device_id": "hkg-dock-7", "tracking_number": TN,
            "event": event, "location": location, "occurred_at": iso(when), **extra}


def track(client: TestClient[Any], position: int | None) -> dict[str, Any]:
    params = {"min_position": position} if position is not None else {}
    r = client.get(f"/api/v1/track/{TN}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def post_scan(client: TestClient[Any], clock: Clock, body: dict[str, Any]) -> dict[str, Any]:
    clock.now = datetime.fromisoformat(body["occurred_at"]) + timedelta(minutes=5)
    r = client.post("/api/v1/scans", json=body, headers=DEVICE)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_shipment_s_whole_life_through_http(client: TestClient[Any], clock: Clock) -> None:
    r = client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    assert r.status_code == 201, r.text
    booked = r.json()
    assert booked["tracking_number"] == TN and booked["recipient"]["name"] == "Astrid Lindgren"
    view = track(client, booked["position"])
    assert (view["status"], view["transport_status"], view["routing_status"]) == (
        "INFO_RECEIVED", "NOT_RECEIVED", "ROUTED")
    assert view["next_expected"] == {"event": "RECEIVED", "location": "HKHKG", "voyage": None}
    assert "recipient" not in view and "Astrid" not in r.text.split('"recipient"')[0]

    w = post_scan(client, clock, scan("RECEIVED", "HKHKG", at(2)))
    view = track(client, w["position"])
    assert view["next_expected"] == {"event": "LOADED", "location": "HKHKG", "voyage": "V100"}

    w = post_scan(client, clock, scan("LOADED", "HKHKG", at(3, 6), voyage="V100"))
    view = track(client, w["position"])
    assert (view["transport_status"], view["current_voyage"]) == ("ONBOARD", "V100")
    assert view["eta"] == "2009-03-15T06:00:00Z"  # six hours late

    w = post_scan(client, clock, scan("UNLOADED", "JPTYO", at(6), voyage="V100"))
    view = track(client, w["position"])
    assert view["misdirected"] is True and view["next_expected"] is None and view["eta"] is None
    r = client.get("/api/v1/exceptions", params={"state": "open", "min_position": w["position"]},
                   headers=AGENT)
    assert [(e["tracking_number"], e["kind"]) for e in r.json()] == [(TN, "MISDIRECTED")]

    clock.now = at(7)
    r = client.post(f"/api/v1/shipments/{TN}/route", headers=AGENT, json={
        "route": [leg("V400", "JPTYO", "DEHAM", 12, 20), leg("T500", "DEHAM", "SESTO", 21, 23, "road")]})
    assert r.status_code == 200, r.text
    view = track(client, r.json()["position"])
    assert view["misdirected"] is False
    assert view["next_expected"] == {"event": "LOADED", "location": "JPTYO", "voyage": "V400"}
    assert view["eta"] == "2009-03-23T00:00:00Z"

    post_scan(client, clock, scan("LOADED", "JPTYO", at(12), voyage="V400"))
    post_scan(client, clock, scan("UNLOADED", "DEHAM", at(20), voyage="V400"))
    post_scan(client, clock, scan("LOADED", "DEHAM", at(21), voyage="T500"))
    w = post_scan(client, clock, scan("UNLOADED", "SESTO", at(23), voyage="T500"))
    view = track(client, w["position"])
    assert view["next_expected"] == {"event": "DELIVERED", "location": "SESTO", "voyage": None}
    w = post_scan(client, clock, scan("DELIVERED", "SESTO", at(24)))
    view = track(client, w["position"])
    assert (view["status"], view["transport_status"], view["next_expected"]) == (
        "DELIVERED", "DELIVERED", None)
    assert [e["event"] for e in view["events"]][-1] == "DELIVERED"
    # When it was delivered, and the ETA is that time (it was the arrival in port).
    assert view["delivered_at"] == view["eta"] == "2009-03-24T00:00:00Z"
    full = client.get(f"/api/v1/shipments/{TN}", headers=AGENT).json()
    assert full["delivered_at"] == full["eta"] == "2009-03-24T00:00:00Z"
    r = client.get("/api/v1/exceptions", params={"state": "closed", "min_position": w["position"]},
                   headers=AGENT)
    assert [e["kind"] for e in r.json()] == ["MISDIRECTED"]
    assert r.json()[0]["cleared_at"] is not None

    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    assert [h["version"] for h in history] == list(range(1, len(history) + 1))
    assert [h["type"] for h in history[:2]] == ["Opened", "Booked"]
    assert history[2]["source"] == {"kind": "scanner", "id": "hkg-dock-7"}
    rerouted = next(h for h in history if h["type"] == "Rerouted")
    assert rerouted["source"] == {"kind": "agent", "id": principal("agent", "a-token")}
    assert history[1]["source"] == {"kind": "agent", "id": principal("merchant", "m-token")}
    assert "a-token" not in str(history) and "m-token" not in str(history)
    assert rerouted["data"]["route"]["legs"][0]["from"] == "JPTYO"


def test_duplicates_out_of_order_and_early_scans(client: TestClient[Any], clock: Clock) -> None:
    clock.now = at(9)
    early = scan("RECEIVED", "HKHKG", at(2))
    r = client.post("/api/v1/scans", json=early, headers=DEVICE)
    assert r.status_code == 201 and r.json()["booked"] is False
    assert client.get(f"/api/v1/track/{TN}").status_code == 404
    again = client.post("/api/v1/scans", json=early, headers=DEVICE)
    assert again.status_code == 200 and again.json()["duplicate"] is True

    booked = client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).json()
    assert track(client, booked["position"])["last_location"] == "HKHKG"

    later, earlier = scan("UNLOADED", "USLAX", at(9), voyage="V100"), scan(
        "LOADED", "HKHKG", at(3), voyage="V100")
    r = client.post("/api/v1/scans", json={"scans": [later, earlier, early]}, headers=DEVICE)
    assert r.status_code == 200, r.text
    batch = r.json()
    assert (batch["recorded"], batch["duplicates"], batch["rejected"]) == (2, 1, 0)
    view = track(client, batch["position"])
    assert [e["event"] for e in view["events"]] == ["RECEIVED", "LOADED", "UNLOADED"]
    assert view["next_expected"] == {"event": "LOADED", "location": "USLAX", "voyage": "R200"}


def test_a_batch_names_each_bad_scan_and_records_the_rest(client: TestClient[Any], clock: Clock) -> None:
    clock.now = at(9)
    client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    good = scan("RECEIVED", "HKHKG", at(2))
    bad = scan("LOADDED", "HKHKG", at(3))
    r = client.post("/api/v1/scans", json={"scans": [good, bad]}, headers=DEVICE)
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["result"] for x in results] == ["recorded", "rejected"]
    assert results[1]["field"] == "scans[1].event" and "LOADDED" in results[1]["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event": "LOADDED"}, "event"),
        ({"location": "ZZZZZ"}, "location"),
        ({"location": "HK"}, "location"),
        ({"occurred_at": "2009-03-02T10:00:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"tracking_number": "LX123456784CN"}, "tracking_number"),
        ({"event": "EXCEPTION"}, "reason"),
        ({"reason": "BORED", "event": "EXCEPTION"}, "reason"),
        ({"scan_id": None}, "scan_id"),
        ({"device_id": None}, "device_id"),
        ({"voyage": "XX\u0000999"}, "voyage"),
    ],
)
def test_an_invalid_scan_is_refused_naming_the_field(
    client: TestClient[Any], clock: Clock, body: dict[str, Any], field: str
) -> None:
    clock.now = at(9)
    payload = {**scan("RECEIVED", "HKHKG", at(2)), **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    r = client.post("/api/v1/scans", json=payload, headers=DEVICE)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["status_code"] == 422
    assert field in r.json()["detail"]


def test_error_statuses(client: TestClient[Any], clock: Clock) -> None:
    r = client.post("/api/v1/scans", content=b"{not json", headers=DEVICE)
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = client.post("/api/v1/shipments", json={**BOOKING, "origin": "ZZZZZ"}, headers=MERCHANT)
    assert r.status_code == 422 and r.json()["field"] == "origin"
    r = client.post("/api/v1/shipments", json={k: v for k, v in BOOKING.items() if k != "carrier"},
                    headers=MERCHANT)
    assert r.status_code == 422 and "carrier" in r.json()["detail"]
    bad_route = {**BOOKING, "route": [leg("V1", "HKHKG", "USLAX", 9, 3)]}
    r = client.post("/api/v1/shipments", json=bad_route, headers=MERCHANT)
    assert r.status_code == 422 and r.json()["field"] == "route[0].arrives_at"
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 200
    r = client.post("/api/v1/shipments", json={**BOOKING, "carrier": "dhl"}, headers=MERCHANT)
    assert r.status_code == 409 and "already booked" in r.json()["detail"]
    assert client.get("/api/v1/track/RR473124829US").status_code == 404
    assert client.get("/api/v1/track/not-a-number!").status_code == 422
    r = client.post("/api/v1/scans", content=b"[" + b"1," * 600_000 + b"1]", headers=DEVICE)
    assert r.status_code == 413
    r = client.get(f"/api/v1/track/{TN}", params={"min_position": "soon"})
    assert r.status_code == 400 and r.json()["field"] == "min_position"


def test_reads_wait_for_a_position_and_answer_503_past_it(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "READ_YOUR_WRITES_WAIT", 0.2)
    r = client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    assert client.get(f"/api/v1/track/{TN}", params={"min_position": r.json()["position"]}).status_code == 200
    r = client.get(f"/api/v1/track/{TN}", params={"min_position": 10**9})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"


AGENT_ONLY = [
    ("GET", f"/api/v1/shipments/{TN}"),
    ("GET", f"/api/v1/shipments/{TN}/history"),
    ("GET", "/api/v1/exceptions"),
]


@pytest.mark.parametrize(("method", "path"), AGENT_ONLY)
def test_agent_routes_refuse_a_missing_or_wrong_token(
    client: TestClient[Any], method: str, path: str
) -> None:
    assert client.request(method, path).status_code == 401
    assert client.request(method, path, headers={"Authorization": "Bearer nope"}).status_code == 401
    for who in (MERCHANT, DEVICE, CARRIER):
        r = client.request(method, path, headers=who)
        assert r.status_code == 403 and "may not use this route" in r.json()["detail"]
    assert client.request(method, path, headers=AGENT).status_code in (200, 404)
    assert client.request(method, path, headers={"Authorization": "Bearer x-token"}).status_code in (200, 404)


def test_write_routes_check_roles(client: TestClient[Any]) -> None:
    assert client.post("/api/v1/shipments", json=BOOKING).status_code == 401
    assert client.post("/api/v1/shipments", json=BOOKING, headers=DEVICE).status_code == 403
    assert client.post("/api/v1/scans", json=scan("RECEIVED", "HKHKG", at(1)), headers=MERCHANT).status_code == 403
    assert client.post(f"/api/v1/shipments/{TN}/route", json={"route": []}, headers=CARRIER).status_code == 403


def test_the_agent_view_as_of_a_time_and_now(client: TestClient[Any], clock: Clock) -> None:
    booked = client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).json()
    clock.now = at(3)
    post_scan(client, clock, scan("RECEIVED", "HKHKG", at(2)))
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    between = history[1]["recorded_at"]
    w = post_scan(client, clock, scan("LOADED", "HKHKG", at(3), voyage="V100"))
    now_view = client.get(f"/api/v1/shipments/{TN}", params={"min_position": w["position"]}, headers=AGENT).json()
    assert now_view["transport_status"] == "ONBOARD" and now_view["recipient"]["postcode"] == "11122"
    then = client.get(f"/api/v1/shipments/{TN}", params={"as_of": between}, headers=AGENT).json()
    assert then["transport_status"] == "NOT_RECEIVED" and then["version"] == booked["version"]
    r = client.get(f"/api/v1/shipments/{TN}", params={"as_of": "2001-01-01T00:00:00Z"}, headers=AGENT)
    assert r.status_code == 404
    assert "as_of is the time events were recorded" in r.json()["detail"]


def test_operations_endpoints(client: TestClient[Any], clock: Clock) -> None:
    assert client.get("/livez").json() == {"status": "ok"}
    client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    clock.now = at(3)
    client.post("/api/v1/scans", json=scan("RECEIVED", "HKHKG", at(2)), headers=DEVICE)
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    metrics = client.get("/metrics").text
    assert 'tracking_scans_total{ingress="http",result="recorded"} 1' in metrics
    assert 'route="/api/v1/shipments"' in metrics and "tracking_projection_lag_events" in metrics
    schema = client.get("/schema/openapi.json").json()
    assert "/api/v1/track/{tracking_number}" in schema["paths"]
    assert client.get("/schema/swagger").status_code == 200


def test_too_many_requests(settings: Settings, clock: Clock) -> None:
    limited = Settings(database_url=settings.database_url, api_tokens=settings.api_tokens,
                       rate_limit_per_minute=3)
    with TestClient(app=create_app(build_api(limited, clock=clock))) as c:
        codes = [c.get(f"/api/v1/track/{TN}").status_code for _ in range(5)]
    assert codes[:3] == [404, 404, 404] and codes[3:] == [429, 429]
