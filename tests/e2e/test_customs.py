"""Customs entries over HTTP, on SQLite and PostgreSQL: a declaration with
its findings, a hold that the shipment and its exceptions follow, a release
that clears them, and the customs view's totals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import TestClient

from tests.e2e.conftest import AGENT, CARRIER, DEVICE, MERCHANT, Clock

TN = "LX123456785CN"
T0 = datetime(2026, 3, 2, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.isoformat()


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


BOOKING = {
    "tracking_number": TN, "carrier": "postnord", "origin": "HKHKG", "destination": "SESTO",
    "deliver_by": iso(day(10)),
    "recipient": {"name": "Astrid Lindgren", "postcode": "11122", "country": "SE"},
    "route": [{"voyage": "CX100", "mode": "air", "from": "HKHKG", "to": "SESTO",
               "departs_at": iso(day(1)), "arrives_at": iso(day(2))}],
}
DECLARATION = {
    "tracking_number": TN, "destination_country": "SE", "incoterm": "DAP", "currency": "EUR",
    "lines": [{"description": "cotton t-shirt", "hs_code": "610910", "quantity": 2,
               "unit_value": "12.50", "origin_country": "CN"}],
}


def get(client: TestClient[Any], path: str, position: int | None = None, **query: Any) -> Any:
    if position is not None:
        query["min_position"] = position
    r = client.get(path, params=query, headers=AGENT)
    assert r.status_code == 200, r.text
    return r.json()


def scan(client: TestClient[Any], event: str, location: str, when: datetime, **extra: Any) -> int:
    body = {"scan_id": uuid.uuid4().hex, "device_id": "dock-1", "tracking_number": TN,
            "event": event, "location": location, "occurred_at": iso(when), **extra}
    r = client.post("/api/v1/scans", json=body, headers=DEVICE)
    assert r.status_code == 201, r.text
    return int(r.json()["position"])


def report(client: TestClient[Any], entry_id: str, event: str, when: datetime,
           expect: int = 201, **extra: Any) -> dict[str, Any]:
    r = client.post(f"/api/v1/customs-entries/{entry_id}/events",
                    json={"event": event, "occurred_at": iso(when), **extra}, headers=CARRIER)
    assert r.status_code == expect, r.text
    return r.json()


def open_kinds(client: TestClient[Any], position: int) -> dict[str, str]:
    rows = get(client, "/api/v1/exceptions", position, state="open")
    return {e["kind"]: e["details"] for e in rows if e["tracking_number"] == TN}


def test_a_hold_and_a_release_are_followed_by_the_shipment_and_its_exceptions(
    client: TestClient[Any], clock: Clock
) -> None:
    clock.now = T0
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    clock.now = day(2.5)
    scan(client, "RECEIVED", "HKHKG", day(0.5))
    scan(client, "LOADED", "HKHKG", day(1), voyage="CX100")
    scan(client, "UNLOADED", "SESTO", day(2), voyage="CX100")

    r = client.post("/api/v1/customs-entries", json=DECLARATION, headers=MERCHANT)
    assert r.status_code == 201, r.text
    entry = r.json()
    entry_id = entry["entry_id"]
    assert entry["status"] == "DECLARED"
    # EUR 25 into Sweden: no duty under EUR 150, VAT from the first euro, collected at
    # import as there is no IOSS number.
    assert [(f["code"], f["field"]) for f in entry["findings"]] == [
        ("TAX_DUE_AT_IMPORT", "importer_ioss")]
    assert entry["estimate"]["charges"] == {"duty": "0.00", "vat": "6.25", "fees": "0.00"}
    again = client.post("/api/v1/customs-entries", json=DECLARATION, headers=MERCHANT)
    assert again.status_code == 200 and again.json()["entry_id"] == entry_id

    lodged = report(client, entry_id, "LODGED", day(2.1))
    view = get(client, f"/api/v1/track/{TN}", lodged["position"])
    assert view["status"] == "IN_CUSTOMS"
    assert view["customs"] == [{"country": "SE", "status": "LODGED", "since": iso(day(2.1))
                                .replace("+00:00", "Z")}]

    held = report(client, entry_id, "HELD", day(2.2), reason="DOCUMENTS",
                  detail="commercial invoice missing")
    assert held["status"] == "HELD" and held["hold_reason"] == "DOCUMENTS"
    assert get(client, f"/api/v1/track/{TN}", held["position"])["status"] == "CUSTOMS_HOLD"
    assert "DOCUMENTS" in open_kinds(client, held["position"])["CUSTOMS_HOLD"]
    full = get(client, f"/api/v1/shipments/{TN}", held["position"])
    assert full["customs_entries"] == [entry_id]
    assert [e["kind"] for e in full["exceptions"]] == ["CUSTOMS_HOLD"]

    # Released before the duties assessed are paid: refused, nothing recorded.
    report(client, entry_id, "DUTIES_ASSESSED", day(2.3), amount="6.25")
    refused = client.post(f"/api/v1/customs-entries/{entry_id}/events",
                          json={"event": "RELEASED", "occurred_at": iso(day(2.35))},
                          headers=CARRIER)
    assert refused.status_code == 409
    assert "not paid" in refused.json()["detail"]
    report(client, entry_id, "DUTIES_PAID", day(2.4))
    released = report(client, entry_id, "RELEASED", day(2.5))
    assert report(client, entry_id, "RELEASED", day(2.5), expect=200)["duplicate"] is True

    view = get(client, f"/api/v1/track/{TN}", released["position"])
    assert view["status"] == "IN_TRANSIT"
    assert "CUSTOMS_HOLD" not in open_kinds(client, released["position"])
    closed = get(client, "/api/v1/exceptions", released["position"], state="closed",
                 kind="CUSTOMS_HOLD")
    assert [e["tracking_number"] for e in closed] == [TN]

    # Estimated and assessed side by side, and every report in the entry's events.
    stored = get(client, f"/api/v1/customs-entries/{entry_id}", released["position"])
    assert stored["assessed"] == {"amount": "6.25", "paid": "6.25", "unpaid": "0.00",
                                  "difference": "0.00"}
    assert [e["status"] for e in stored["events"]] == [
        "LODGED", "HELD", "DUTIES_ASSESSED", "DUTIES_PAID", "RELEASED"]
    # ... and in the shipment's history, with when customs said each happened.
    history = get(client, f"/api/v1/shipments/{TN}/history")
    customs = [h for h in history if h["type"] == "CustomsUpdated"]
    assert [h["data"]["mark"]["status"] for h in customs] == [
        "DECLARED", "LODGED", "HELD", "DUTIES_ASSESSED", "DUTIES_PAID", "RELEASED"]
    assert customs[2]["occurred_at"].startswith("2026-03-04T04:48")

    totals = get(client, "/api/v1/customs/summary", released["position"])
    assert totals == [{"country": "SE", "status": "RELEASED", "currency": "EUR", "entries": 1,
                       "estimated": "6.25", "assessed": "6.25", "assessed_entries": 1}]
    listed = get(client, "/api/v1/customs-entries", released["position"], status="RELEASED",
                 country="SE")
    assert [e["entry_id"] for e in listed] == [entry_id]
    assert get(client, "/api/v1/customs-entries", released["position"], status="HELD") == []


def test_a_declaration_that_cannot_be_right_is_refused_naming_the_field(
    client: TestClient[Any], clock: Clock
) -> None:
    clock.now = T0
    client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    cases = [
        ({"lines": [{**DECLARATION["lines"][0], "hs_code": "61091"}]}, "lines[0].hs_code"),
        ({"lines": [{**DECLARATION["lines"][0], "hs_code": "771000"}]}, "lines[0].hs_code"),
        ({"lines": [{**DECLARATION["lines"][0], "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": [{**DECLARATION["lines"][0], "unit_value": "-1"}]}, "lines[0].unit_value"),
        ({"lines": [{**DECLARATION["lines"][0], "unit_value": "abc"}]}, "lines[0].unit_value"),
        ({"lines": [{**DECLARATION["lines"][0], "origin_country": "XX"}]},
         "lines[0].origin_country"),
        ({"currency": "EUX"}, "currency"),
        ({"destination_country": "ZZ"}, "destination_country"),
        ({"incoterm": "FOB"}, "incoterm"),
        ({"lines": []}, "lines"),
        ({"importer_ioss": "IM123"}, "importer_ioss"),
        ({"lines": [{**DECLARATION["lines"][0], "quantity": 2.5}]}, "lines[0].quantity"),
        ({"lines": [{**DECLARATION["lines"][0], "description": " "}]}, "lines[0].description"),
    ]
    for change, field in cases:
        r = client.post("/api/v1/customs-entries", json={**DECLARATION, **change},
                        headers=MERCHANT)
        assert r.status_code == 422, (change, r.text)
        assert r.json()["field"] == field, (change, r.json())
    assert client.get("/api/v1/customs-entries", headers=AGENT).json() == []
    # Not booked: 404; no token: 401; a device may not declare: 403.
    r = client.post("/api/v1/customs-entries",
                    json={**DECLARATION, "tracking_number": "RR123456785CN"}, headers=MERCHANT)
    assert r.status_code == 404
    assert client.post("/api/v1/customs-entries", json=DECLARATION).status_code == 401
    assert client.post("/api/v1/customs-entries", json=DECLARATION,
                       headers=DEVICE).status_code == 403


def test_refused_transitions_and_an_amendment(client: TestClient[Any], clock: Clock) -> None:
    clock.now = T0
    client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    entry_id = client.post("/api/v1/customs-entries", json=DECLARATION,
                           headers=MERCHANT).json()["entry_id"]
    r = client.post(f"/api/v1/customs-entries/{entry_id}/events",
                    json={"event": "RELEASED", "occurred_at": iso(T0)}, headers=CARRIER)
    assert r.status_code == 409 and "not been lodged" in r.json()["detail"]
    r = client.post(f"/api/v1/customs-entries/{entry_id}/events",
                    json={"event": "HELD", "occurred_at": iso(T0), "reason": "\x00"},
                    headers=CARRIER)
    assert r.status_code == 422 and r.json()["field"] == "reason"
    r = client.post(f"/api/v1/customs-entries/{entry_id}/events",
                    json={"event": "TELEPORTED", "occurred_at": iso(T0)}, headers=CARRIER)
    assert r.status_code == 422 and r.json()["field"] == "event"
    assert client.post(f"/api/v1/customs-entries/{uuid.uuid4()}/events",
                       json={"event": "LODGED", "occurred_at": iso(T0)},
                       headers=CARRIER).status_code == 404
    assert client.get("/api/v1/customs-entries/not-an-id", headers=AGENT).status_code == 404

    # A different declaration for the same shipment and country is a conflict ...
    bigger = {**DECLARATION, "lines": [{**DECLARATION["lines"][0], "quantity": 20}]}
    assert client.post("/api/v1/customs-entries", json=bigger,
                       headers=MERCHANT).status_code == 409
    # ... it is an amendment: checked again, the first declaration kept in the history.
    r = client.post(f"/api/v1/customs-entries/{entry_id}/declaration", json=bigger,
                    headers=MERCHANT)
    assert r.status_code == 200 and r.json()["amended"] is True
    amended = r.json()
    assert amended["amendments"] == 1 and amended["value"] == "250.00"
    assert [f["code"] for f in amended["findings"]] == ["DUTY_THRESHOLD_EXCEEDED"]
    assert amended["estimate"]["charges"]["duty"] == "30.00"  # 12 % on chapter 61
