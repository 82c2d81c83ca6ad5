"""A customs hold over HTTP, worded as customs systems word it: recorded,
never refused for its wording, and followed by the shipment."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.e2e.conftest import MERCHANT, Clock
from tests.e2e.test_customs import BOOKING, DECLARATION, TN, T0, day, get, open_kinds, report


def test_a_hold_in_the_customs_system_s_own_words_reaches_the_shipment(
    client: TestClient[Any], clock: Clock
) -> None:
    clock.now = T0
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    entry_id = client.post("/api/v1/customs-entries", json=DECLARATION,
                           headers=MERCHANT).json()["entry_id"]
    report(client, entry_id, "LODGED", day(0.1))

    # Any other words are an OTHER hold that keeps them.
    held = report(client, entry_id, "HELD", day(0.3), reason="Documentary check required")
    assert (held["status"], held["hold_reason"]) == ("HELD", "OTHER")
    assert held["events"][-1]["detail"] == "Documentary check required"

    view = get(client, f"/api/v1/track/{TN}", held["position"])
    assert view["status"] == "CUSTOMS_HOLD"
    assert view["customs"][0]["hold_reason"] == "OTHER"
    details = open_kinds(client, held["position"])["CUSTOMS_HOLD"]
    assert "Documentary check required" in details
    full = get(client, f"/api/v1/shipments/{TN}", held["position"])
    assert [(e["kind"], e["details"]) for e in full["exceptions"]] == [
        ("CUSTOMS_HOLD", "held by SE customs (OTHER, Documentary check required)")]

    # A known code in lower case is that code.
    held = report(client, entry_id, "HELD", day(0.4), reason="inspection")
    assert (held["status"], held["hold_reason"]) == ("HELD", "INSPECTION")

