"""Carrier hand-over: a HANDED_OVER with a new tracking number links the two
numbers; the shipment is found by either, and what the next carrier reports
under its own number is recorded on it."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

from tests.carriers.conftest import AGGREGATOR_SECRET, base64_signature, book, history, track
from tests.carriers.test_aggregator import CHECKPOINTS, URL as WEBHOOKS, webhook
from tests.e2e.conftest import AGENT, CARRIER

TN = "LX123456785CN"
NEXT = "1Z999AA10123456784"  # the next carrier's number (the aggregator tests' parcel)


def hand_over(client: TestClient[Any], new: str, *, scan_id: str = "h-1",
              tn: str = TN) -> Any:
    return client.post("/api/v1/scans", headers=CARRIER, json={
        "scan_id": scan_id, "tracking_number": tn, "event": "HANDED_OVER",
        "location": "HKHKG", "occurred_at": "2026-11-20T08:00:00+08:00",
        "new_tracking_number": new})


def test_the_shipment_is_found_by_either_number_after_a_hand_over(client) -> None:
    book(client, TN)
    assert client.get(f"/api/v1/track/{NEXT}").status_code == 404
    r = hand_over(client, NEXT)
    assert r.status_code == 201, r.text
    view = track(client, NEXT, r.json()["position"])
    assert view["tracking_number"] == TN
    assert view["events"][0]["event"] == "HANDED_OVER"
    full = client.get(f"/api/v1/shipments/{NEXT}", headers=AGENT).json()
    assert full["tracking_number"] == TN
    assert [e["type"] for e in history(client, NEXT)] == [e["type"] for e in history(client, TN)]


def test_what_the_next_carrier_reports_under_its_number_lands_on_the_shipment(client) -> None:
    book(client, TN)
    hand_over(client, NEXT)
    body = json.dumps(webhook(CHECKPOINTS)).encode()
    r = client.post(WEBHOOKS, content=body, headers={
        "aftership-hmac-sha256": base64_signature(AGGREGATOR_SECRET, body),
        "Content-Type": "application/json"})
    assert r.json()["recorded"] == 4, r.text
    view = track(client, TN, r.json()["position"])
    assert view["status"] == "DELIVERED"
    assert history(client, TN)[-1]["data"]["scan"]["tracking_number"] == NEXT  # as reported
    assert client.get(f"/api/v1/track/{NEXT}").json()["status"] == "DELIVERED"


def test_a_hand_over_to_a_number_that_is_another_shipment_is_refused(client) -> None:
    book(client, TN)
    book(client, NEXT)
    r = hand_over(client, NEXT)
    assert r.status_code == 422 and r.json()["field"] == "new_tracking_number"
    other = "LX000000005CN"  # a second shipment claiming a number already linked
    assert hand_over(client, "JD014600003828392451", scan_id="h-2").status_code == 201, "linked"
    book(client, other)
    again = hand_over(client, "JD014600003828392451", scan_id="h-3", tn=other)
    assert again.status_code == 422 and "already linked" in again.json()["detail"]


def test_the_same_hand_over_twice_links_once(client) -> None:
    book(client, TN)
    hand_over(client, NEXT)
    again = hand_over(client, NEXT)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    second = hand_over(client, NEXT, scan_id="h-2")  # another scan of the same hand-over
    assert second.status_code == 201
    assert track(client, NEXT, second.json()["position"])["tracking_number"] == TN
