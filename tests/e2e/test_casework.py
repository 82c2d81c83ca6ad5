"""The exception workflow over JSON: an agent acknowledges, assigns,
comments on, snoozes and resolves an exception, each an event in the
shipment's history with the agent's identity; a resolved exception stays
resolved while its condition goes on; one a later scan clears is closed by
that scan, at its version. The queue's filters and counts."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from adapters.http.auth import principal
from tests.builders import at
from tests.e2e.conftest import AGENT, MERCHANT, Clock
from tests.e2e.test_http import BOOKING, TN, iso, post_scan, scan

Q = "/api/v1/exceptions/queue"


def work(client: TestClient[Any], kind: str, action: str, **body: Any) -> Any:
    return client.post(f"/api/v1/exceptions/{TN}/{kind}/casework",
                       json={"action": action, **body}, headers=AGENT)


def queue(client: TestClient[Any], position: int | None = None, **params: Any) -> list[Any]:
    if position is not None:
        params["min_position"] = position
    r = client.get(Q, params=params, headers=AGENT)
    assert r.status_code == 200, r.text
    return r.json()


def book_and_damage(client: TestClient[Any], clock: Clock) -> int:
    clock.now = at(1)
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    return post_scan(client, clock, scan("EXCEPTION", "HKHKG", at(2), reason="DAMAGED"))["position"]


def test_an_exception_worked_from_open_to_resolved(client: TestClient[Any], clock: Clock) -> None:
    position = book_and_damage(client, clock)
    [item] = queue(client, position)
    assert (item["kind"], item["state"], item["carrier"]) == ("DAMAGED", "open", "postnord")
    assert item["open_seconds"] >= 0 and item["assignee"] is None

    assert work(client, "DAMAGED", "acknowledge").status_code == 201
    assert work(client, "DAMAGED", "assign", assignee="Greta").status_code == 201
    assert work(client, "DAMAGED", "comment", text="Asked the depot for photos").status_code == 201
    r = work(client, "DAMAGED", "snooze", until=iso(at(3)))
    assert r.status_code == 201, r.text
    [item] = queue(client, r.json()["position"], assignee="Greta")
    me = principal("agent", "a-token")
    assert item["acknowledged_by"] == me and item["comments"] == 1
    assert item["snoozed_until"] == "2009-03-03T00:00:00Z"
    assert queue(client, assignee="Nobody") == []
    assert client.get("/api/v1/exceptions/counts", headers=AGENT).json() == {"DAMAGED": 1}

    r = work(client, "DAMAGED", "resolve", text="Repacked at the hub")
    assert r.status_code == 201, r.text
    assert queue(client, r.json()["position"]) == []
    [closed] = queue(client, state="closed")
    assert closed["resolved_by"] == me and closed["cleared_by"] == "ExceptionResolved"
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    worked = [(e["type"], e["source"]["id"]) for e in history if e["type"].startswith("Exception")]
    assert worked == [(t, me) for t in ("ExceptionAcknowledged", "ExceptionAssigned",
                                        "ExceptionCommented", "ExceptionSnoozed",
                                        "ExceptionResolved")]

    # Still DAMAGED (no scan since): resolved stays resolved.
    w = post_scan(client, clock, scan("EXCEPTION", "HKHKG", at(2, 6), reason="DAMAGED"))
    assert queue(client, w["position"]) == []
    # The condition ends (a scan in the network), then a new cause opens a new one.
    post_scan(client, clock, scan("RECEIVED", "HKHKG", at(2, 8)))
    w = post_scan(client, clock, scan("EXCEPTION", "HKHKG", at(2, 9), reason="DAMAGED"))
    [again] = queue(client, w["position"])
    assert again["raised_at"] != closed["raised_at"] and again["acknowledged_by"] is None


def test_an_exception_a_later_scan_clears_is_closed_by_it(
    client: TestClient[Any], clock: Clock
) -> None:
    book_and_damage(client, clock)
    w = post_scan(client, clock, scan("RECEIVED", "HKHKG", at(2, 8)))
    assert queue(client, w["position"]) == []
    [closed] = queue(client, state="closed", kind="DAMAGED")
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    assert closed["cleared_by"] == "ScanRecorded"
    assert closed["cleared_by_version"] == history[-1]["version"]
    assert closed["resolved_by"] is None


def test_casework_refuses_what_cannot_be_right(client: TestClient[Any], clock: Clock) -> None:
    assert work(client, "DAMAGED", "acknowledge").status_code == 404  # not booked
    book_and_damage(client, clock)
    r = work(client, "LOST", "acknowledge")
    assert r.status_code == 422 and "kind" in r.text
    assert work(client, "NOPE", "acknowledge").status_code == 422
    assert work(client, "DAMAGED", "assign").status_code == 422
    r = work(client, "DAMAGED", "snooze", until="2001-01-01T00:00:00Z")
    assert r.status_code == 422 and "until" in r.text
    assert work(client, "DAMAGED", "dance").status_code in (400, 422)
    r = client.post(f"/api/v1/exceptions/{TN}/DAMAGED/casework", json={"action": "acknowledge"},
                    headers=MERCHANT)
    assert r.status_code == 403
    assert client.get(Q, params={"kind": "NOPE"}, headers=AGENT).status_code in (400, 422)
    assert client.get(Q, params={"origin": "ZZZZZ"}, headers=AGENT).status_code in (400, 422)
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    assert not [e for e in history if e["type"].startswith("Exception")]
