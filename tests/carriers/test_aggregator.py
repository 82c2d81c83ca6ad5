"""The aggregator webhook (AfterShip's tag/subtag checkpoints), end to end:
signed and fresh deliveries become scans, a replayed delivery is answered
2xx and recorded once, unknown codes are kept as notes and counted. The
payloads follow AfterShip's documented webhook shape, written here."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

from tests.carriers.conftest import (
    AGGREGATOR_SECRET,
    NOW,
    base64_signature,
    book,
    history,
    metric,
    track,
    types,
)

URL = "/api/v1/carriers/aggregator/webhooks"
TN = "1Z999AA10123456784"


def checkpoint(tag: str, subtag: str, when: str, city: str, country: str,
               message: str) -> dict[str, Any]:
    return {"checkpoint_time": when, "tag": tag, "subtag": subtag, "message": message,
            "subtag_message": "", "city": city, "country_region": country,
            "country_iso3": country, "location": f"{city}, {country}", "slug": "ups",
            "created_at": "2026-11-20T10:00:00+00:00"}


CHECKPOINTS = [
    checkpoint("InTransit", "InTransit_002", "2026-11-20T09:00:00+08:00", "Hong Kong", "HKG",
               "Shipment picked up"),
    checkpoint("InTransit", "InTransit_009", "2026-11-20T23:00:00+08:00", "Hong Kong", "HKG",
               "Departed from facility"),
    checkpoint("OutForDelivery", "OutForDelivery_001", "2026-11-23T08:00:00+01:00",
               "Stockholm", "SWE", "Out for delivery"),
    checkpoint("Delivered", "Delivered_001", "2026-11-23T14:00:00+01:00", "Stockholm", "SWE",
               "Delivered, front door"),
]


def webhook(checkpoints: list[dict[str, Any]], *, ts: float | None = None,
            event_id: str = "delivery-1") -> dict[str, Any]:
    return {"event": "tracking_update", "event_id": event_id,
            "ts": int(ts if ts is not None else NOW.timestamp()),
            "msg": {"id": "5b7",  "tracking_number": TN, "slug": "ups", "tag": "Delivered",
                    "checkpoints": checkpoints}}


def post(client: TestClient[Any], payload: Any, *, secret: str = AGGREGATOR_SECRET) -> Any:
    body = json.dumps(payload).encode()
    return client.post(URL, content=body, headers={
        "aftership-hmac-sha256": base64_signature(secret, body),
        "Content-Type": "application/json"})


def test_checkpoints_become_scans_and_the_parcel_is_delivered(client) -> None:
    book(client, TN)
    r = post(client, webhook(CHECKPOINTS))
    assert r.status_code == 200, r.text
    view = track(client, TN, r.json()["position"])
    assert [(e["event"], e["location"]) for e in view["events"]] == [
        ("RECEIVED", "HKHKG"), ("DEPARTED", "HKHKG"), ("OUT_FOR_DELIVERY", "SESTO"),
        ("DELIVERED", "SESTO")]
    assert view["status"] == "DELIVERED"
    reported = history(client, TN)[-1]["data"]["scan"]["reported"]
    assert (reported["format"], reported["code"]) == ("aggregator", "Delivered_001")
    assert reported["text"] == "Delivered, front door - Stockholm, SWE - ups"


def test_a_replayed_delivery_is_answered_2xx_and_recorded_once(client) -> None:
    book(client, TN)
    post(client, webhook(CHECKPOINTS[:2]))
    before = types(client, TN)
    again = post(client, webhook(CHECKPOINTS[:2]))
    assert again.status_code == 200
    assert (again.json()["recorded"], again.json()["duplicates"]) == (0, 2)
    # The next delivery repeats every checkpoint: only the new ones are recorded.
    later = post(client, webhook(CHECKPOINTS, event_id="delivery-2")).json()
    assert (later["recorded"], later["duplicates"]) == (2, 2)
    assert types(client, TN) == before + ["ScanRecorded", "ScanRecorded"]


def test_an_unknown_code_or_place_is_kept_as_a_note_and_counted(client) -> None:
    book(client, TN)
    odd = [checkpoint("Teleported", "Teleported_001", "2026-11-21T09:00:00+08:00",
                      "Hong Kong", "HKG", "Beamed up"),
           checkpoint("InTransit", "InTransit_003", "2026-11-22T09:00:00+01:00",
                      "Uppsala", "SWE", "Arrived at hub")]
    r = post(client, webhook(odd))
    assert r.json()["recorded"] == 2
    view = track(client, TN, r.json()["position"])
    assert view["events"] == [] and view["status"] == "INFO_RECEIVED"
    notes = history(client, TN)[2:]
    assert [(n["type"], n["data"]["reported"]["code"], n["data"]["location"]) for n in notes] == [
        ("CarrierEventNoted", "Teleported_001", "HKHKG"),
        ("CarrierEventNoted", "InTransit_003", None)]
    assert metric(client, source="aggregator", code_class="unknown") == 1
    assert metric(client, source="aggregator", code_class="unknown_place") == 1


def test_a_bad_signature_or_a_stale_delivery_is_refused_and_nothing_recorded(client) -> None:
    book(client, TN)
    assert post(client, webhook(CHECKPOINTS), secret="guess").status_code == 401
    stale = post(client, webhook(CHECKPOINTS, ts=NOW.timestamp() - 3600))
    assert stale.status_code == 401 and "replay" in stale.json()["detail"]
    assert types(client, TN) == ["Opened", "Booked"]


def test_a_malformed_checkpoint_is_refused_naming_the_field(client) -> None:
    book(client, TN)
    bad = [CHECKPOINTS[0], {**CHECKPOINTS[1], "checkpoint_time": "yesterday"}]
    r = post(client, webhook(bad))
    assert r.status_code == 422 and r.json()["field"] == "msg.checkpoints[1].checkpoint_time"
    r = post(client, {**webhook(CHECKPOINTS), "msg": {"tracking_number": "no!", "checkpoints": []}})
    assert r.status_code == 422 and r.json()["field"] == "msg.tracking_number"
    assert types(client, TN) == ["Opened", "Booked"]
