"""A tracking number as carriers print it (``LX 123 456 785 CN``,
``LX-123-456-785-CN``) is accepted wherever one comes in over HTTP, and is
the same shipment as ``LX123456785CN``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from litestar.testing import TestClient

from tests.builders import at
from tests.e2e.conftest import AGENT, DEVICE, MERCHANT, Clock
from tests.e2e.test_http import BOOKING

TN = "LX123456785CN"
SPACED = "LX 123 456 785 CN"


def test_spaces_and_dashes_in_paths_and_bodies(client: TestClient[Any], clock: Clock) -> None:
    r = client.post("/api/v1/shipments", json={**BOOKING, "tracking_number": SPACED},
                    headers=MERCHANT)
    assert r.status_code == 201, r.text
    assert r.json()["tracking_number"] == TN

    clock.now = at(2) + timedelta(minutes=5)
    body = {"scan_id": uuid.uuid4().hex, "device_id": "hkg-dock-7",
            "tracking_number": "LX-123-456-785-CN", "event": "RECEIVED", "location": "HKHKG",
            "occurred_at": at(2).isoformat()}
    r = client.post("/api/v1/scans", json=body, headers=DEVICE)
    assert r.status_code == 201, r.text
    assert r.json()["tracking_number"] == TN
    position = r.json()["position"]

    r = client.get("/api/v1/track/LX%20123%20456%20785%20CN",
                   params={"min_position": position})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["tracking_number"] == TN
    assert [e["event"] for e in view["events"]] == ["RECEIVED"]
    assert client.get("/api/v1/track/lx-123-456-785-cn").json() == view

    r = client.get("/api/v1/shipments/LX%20123-456%20785%20CN", headers=AGENT)
    assert r.status_code == 200 and r.json()["tracking_number"] == TN
    r = client.get("/api/v1/shipments/LX-123-456-785-CN/history", headers=AGENT)
    assert [e["type"] for e in r.json()] == ["Opened", "Booked", "ScanRecorded"]

    declaration = {"tracking_number": "lx 123 456 785 cn", "destination_country": "SE",
                   "incoterm": "DAP", "currency": "EUR",
                   "lines": [{"description": "cotton t-shirt", "hs_code": "610910",
                              "quantity": 2, "unit_value": "12.50", "origin_country": "CN"}]}
    r = client.post("/api/v1/customs-entries", json=declaration, headers=MERCHANT)
    assert r.status_code == 201, r.text
    assert r.json()["tracking_number"] == TN
    r = client.get("/api/v1/customs-entries", headers=AGENT,
                   params={"tracking_number": SPACED, "min_position": r.json()["position"]})
    assert [e["tracking_number"] for e in r.json()] == [TN]
