"""Hostile input on every ingress: random bytes, huge and deeply nested
JSON, wrong types, SQL-looking strings and unicode edge cases, sent to the
HTTP endpoints (scans, bookings, customs, the carriers' webhooks and EPCIS,
signed so that they reach the parsers) and over MQTT. Nothing may answer
5xx, nothing may crash, and afterwards the stores hold only what was valid
(see checker.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from litestar.testing import TestClient

from adapters.composition import build_api, build_dead_letters
from adapters.http.app import create_app
from adapters.settings import CarrierSettings, Settings
from tests.faults.checker import check_invariants
from tests.faults.conftest import Broker, Process, Publisher, Traffic, pipeline
from tests.waiting import eventually

pytestmark = pytest.mark.postgres

SECRET = "fuzz-secret"
HEADERS = {
    "device": {"Authorization": "Bearer d-token"},
    "merchant": {"Authorization": "Bearer m-token"},
    "carrier": {"Authorization": "Bearer c-token"},
}
NASTY = [
    "' OR 1=1 --", "'; DROP TABLE stored_events; --", "\x00", "\u202e\u0301", "𝕿𝖗𝖆𝖈𝖐",
    "\ud7ff", "\ufeff", "A" * 5000, "1e309", "-0", "NaN", "null", "$.[*]", "../../etc/passwd",
    "LX123456785CN\n", "2009-02-30T25:61:00+99:00",
]
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=40), st.sampled_from(NASTY),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=25,
)

SCAN = {"scan_id": "s-1", "device_id": "dev-0", "tracking_number": "LX123456785CN",
        "event": "RECEIVED", "location": "HKHKG", "occurred_at": "2009-03-02T10:00:00+08:00"}
BOOKING = {"tracking_number": "RR473124829US", "carrier": "postnord", "origin": "HKHKG",
           "destination": "SESTO", "route": []}
DECLARATION = {"tracking_number": "LX123456785CN", "destination_country": "SE",
               "incoterm": "DAP", "currency": "EUR",
               "lines": [{"description": "t-shirt", "hs_code": "610910", "quantity": 1,
                          "unit_value": "9.50", "origin_country": "CN"}]}
AGGREGATOR = {"event": "tracking_update", "event_id": "e-1", "ts": 0,
              "msg": {"tracking_number": "LX123456785CN", "checkpoints": []}}
DCSA = [{"eventID": "e-1", "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
         "eventDateTime": "2009-03-02T10:00:00Z", "transportEventTypeCode": "ARRI"}]
EPCIS = {"@context": "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
         "type": "EPCISDocument", "schemaVersion": "2.0",
         "creationDate": "2009-03-02T10:00:00Z", "epcisBody": {"eventList": []}}
TEMPLATES: dict[str, Any] = {
    "/api/v1/scans": SCAN, "/api/v1/shipments": BOOKING,
    "/api/v1/customs-entries": DECLARATION, "/api/v1/carriers/aggregator/webhooks": AGGREGATOR,
    "/api/v1/carriers/dcsa/notifications": DCSA, "/api/v1/epcis/capture": EPCIS,
}
ROLE = {"/api/v1/scans": "device", "/api/v1/shipments": "merchant",
        "/api/v1/customs-entries": "merchant", "/api/v1/epcis/capture": "carrier"}


def mutated(template: Any, data: st.DataObject) -> Any:
    """The template with one field replaced, removed or nested deeper."""
    if isinstance(template, list):
        return [mutated(template[0], data)] if template else data.draw(json_value)
    if not isinstance(template, dict):
        return data.draw(json_value)
    doc = dict(template)
    key = data.draw(st.sampled_from(sorted(doc)))
    how = data.draw(st.sampled_from(["replace", "drop", "nest"]))
    if how == "replace":
        doc[key] = data.draw(json_value)
    elif how == "drop":
        del doc[key]
    else:
        doc[key] = mutated(doc[key], data)
    return doc


def signed(path: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256)
    if path.endswith("dcsa/notifications"):
        return {"Notification-Signature": "sha256=" + digest.hexdigest()}
    if path.endswith("aggregator/webhooks"):
        return {"aftership-hmac-sha256": base64.b64encode(digest.digest()).decode()}
    return HEADERS[ROLE[path]]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient[Any]]:
    configured = Settings(**{**settings.__dict__, "carriers": CarrierSettings(
        dcsa_secret=SECRET, aggregator_secret=SECRET)})
    with TestClient(app=create_app(build_api(configured))) as c:
        yield c


@hsettings(max_examples=300, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_http_ingress_answers_5xx_to_anything(client: TestClient[Any], data: Any) -> None:
    path = data.draw(st.sampled_from(sorted(TEMPLATES)))
    kind = data.draw(st.sampled_from(["mutated", "value", "bytes", "deep"]))
    if kind == "mutated":
        body = json.dumps(mutated(TEMPLATES[path], data)).encode()
    elif kind == "value":
        body = json.dumps(data.draw(json_value)).encode()
    elif kind == "bytes":
        body = data.draw(st.binary(max_size=600))
    else:
        depth = data.draw(st.integers(min_value=100, max_value=100_000))
        body = b"[" * depth + b"]" * depth
    r = client.post(path, content=body, headers={**signed(path, body),
                                                 "Content-Type": "application/json"})
    assert r.status_code < 500, (path, body[:200], r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    if r.status_code >= 400:
        assert r.json()["detail"], r.text  # a sentence a person can act on


def test_a_huge_body_is_refused_and_the_api_still_answers(client: TestClient[Any]) -> None:
    body = json.dumps({"scans": [SCAN] * 20_000}).encode()
    assert len(body) > 1_000_000
    r = client.post("/api/v1/scans", content=body, headers=HEADERS["device"])
    assert r.status_code == 413, r.text[:200]
    client.post("/api/v1/shipments", json={**BOOKING, "tracking_number": "LX123456785CN"},
                headers=HEADERS["merchant"])
    r = client.post("/api/v1/scans", json=SCAN, headers=HEADERS["device"])
    assert r.status_code == 201, r.text


def test_hostile_mqtt_messages_are_dead_letters_with_reasons_and_ingestion_goes_on(
    settings: Settings, broker: Broker, publishers: list[Publisher], processes: list[Process]
) -> None:
    traffic = Traffic.make(shipments=20, per_shipment=5, seed=7)
    pipeline(settings, processes, traffic)
    hostile: list[bytes] = [
        b"", b"\xff\xfe\x00garbage", b"[" * 50_000 + b"]" * 50_000, b"{" * 10, b"null", b"[]",
        json.dumps({**SCAN, "event": "TELEPORTED"}).encode(),
        json.dumps({**SCAN, "occurred_at": 12}).encode(),
        json.dumps({**SCAN, "location": "'; DROP TABLE stored_events; --"}).encode(),
        json.dumps({**SCAN, "tracking_number": "\u202eNC587654321XL"}).encode(),
        json.dumps({**SCAN, "device_id": "someone-else"}).encode(),  # not the topic's device
        json.dumps({**SCAN, "scan_id": "x" * 100_000}).encode(),
        ("{" + '"a":' * 1 + '"' + "\ud83d" * 3 + '"}').encode("utf-8", "surrogatepass"),
    ]
    for i, payload in enumerate(hostile):
        publishers[i % 3].publish(payload, key=("hostile", str(i)), topic="scanners/hkg/dev-0/scans")
    valid = traffic.scans
    for i, scan in enumerate(valid):
        publishers[i % 3].publish(scan)
    for p in publishers:
        p.wait_all_acked()
    dead = build_dead_letters(settings)
    try:
        eventually(lambda: dead.count() >= len(hostile), timeout=30,
                   what="every hostile message kept as a dead letter")
        letters = dead.list(pending_only=False, limit=1000, offset=0)
    finally:
        dead.close()
    assert len(letters) == len(hostile)
    acked_valid = [a for p in publishers for a in p.acked if a[0] != "hostile"]
    assert len(acked_valid) == len(valid)
    check_invariants(settings, acked=acked_valid, tracking_numbers=traffic.shipments)
    assert all(p.alive() for p in processes), [p.tail() for p in processes if not p.alive()]
