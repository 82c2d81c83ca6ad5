"""GET /api/v1/shipments/{tn}/explain end to end: each field with its rule
and the events that decided it, by version; as_of; roles; bad input."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.builders import at
from tests.e2e.conftest import AGENT, DEVICE, MERCHANT, Clock
from tests.e2e.test_http import BOOKING, TN, iso, leg, post_scan, scan


def explained(client: TestClient[Any], **params: Any) -> dict[str, dict[str, Any]]:
    r = client.get(f"/api/v1/shipments/{TN}/explain", params=params, headers=AGENT)
    assert r.status_code == 200, r.text
    return {e["field"] if e["field"] != "exception" else f"exception:{e['value']}": e
            for e in r.json()}


def test_the_misdirection_in_tokyo_is_explained(client: TestClient[Any], clock: Clock) -> None:
    clock.now = at(1)
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    post_scan(client, clock, scan("LOADED", "HKHKG", at(3, 6), voyage="V100"))
    post_scan(client, clock, scan("UNLOADED", "JPTYO", at(6), voyage="V100"))
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    tokyo = next(e["version"] for e in history if e["data"].get("scan", {}).get("location")
                 == "JPTYO")
    before_tokyo = history[tokyo - 2]["recorded_at"]  # when the load was recorded

    why = explained(client)
    assert set(why) >= {"status", "transport_status", "routing_status", "last_location",
                        "next_expected", "eta", "misdirected", "exception:MISDIRECTED"}
    m = why["misdirected"]
    assert m["value"] is True and m["rule"] == "scanned where the route does not expect it"
    assert tokyo in [c["version"] for c in m["because"]]
    assert {"version", "type", "occurred_at"} == set(m["because"][-1])
    assert m["because"][-1]["type"] == "ScanRecorded"
    assert why["eta"]["value"] is None and why["next_expected"]["value"] is None

    then = explained(client, as_of=before_tokyo)
    assert then["misdirected"]["value"] is False
    assert then["eta"]["value"] == "2009-03-15T06:00:00Z"
    assert "exception:MISDIRECTED" not in then

    clock.now = at(7)
    r = client.post(f"/api/v1/shipments/{TN}/route", headers=AGENT, json={
        "route": [leg("V400", "JPTYO", "DEHAM", 12, 20), leg("T500", "DEHAM", "SESTO", 21, 23)]})
    assert r.status_code == 200, r.text
    why = explained(client)
    assert why["next_expected"]["value"] == {"event": "LOADED", "location": "JPTYO",
                                             "voyage": "V400"}
    assert "Rerouted" in [c["type"] for c in why["next_expected"]["because"]]


def test_explain_refuses_what_it_cannot_answer(client: TestClient[Any], clock: Clock) -> None:
    assert client.get(f"/api/v1/shipments/{TN}/explain").status_code == 401
    assert client.get(f"/api/v1/shipments/{TN}/explain", headers=MERCHANT).status_code == 403
    assert client.get(f"/api/v1/shipments/{TN}/explain", headers=DEVICE).status_code == 403
    assert client.get(f"/api/v1/shipments/{TN}/explain", headers=AGENT).status_code == 404
    clock.now = at(1)
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    r = client.get(f"/api/v1/shipments/{TN}/explain", params={"as_of": "2009-03-01T00:00:00"},
                   headers=AGENT)
    assert r.status_code in (400, 422) and "as_of" in r.text
    r = client.get(f"/api/v1/shipments/{TN}/explain",
                   params={"as_of": "2001-01-01T00:00:00Z"}, headers=AGENT)
    assert r.status_code == 404
