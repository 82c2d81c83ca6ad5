"""DCSA Track & Trace v2 notifications, end to end: signed callbacks become
scans (ACT) and ETA estimates (PLN/EST) on the booked shipment. The events
are written here, from the shapes of DCSA's event domain specification
(dcsaorg/DCSA-OpenAPI, domain/event/event_domain_v2.0.2.yaml)."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

from adapters.carriers.mapping import load as load_mapping
from tests.carriers.conftest import DCSA_SECRET, book, hex_signature, history, metric, track, types

TN = "MAEU2106781234"
URL = "/api/v1/carriers/dcsa/notifications"
ROUTE = [{"voyage": "2106W", "mode": "sea", "from": "HKHKG", "to": "NLRTM",
          "departs_at": "2009-03-03T00:00:00Z", "arrives_at": "2009-03-20T00:00:00Z"}]


def equipment(event_id: str, code: str, when: str, where: str = "HKHKG",
              classifier: str = "ACT") -> dict[str, Any]:
    return {"eventID": event_id, "eventType": "EQUIPMENT", "eventClassifierCode": classifier,
            "eventDateTime": when, "eventCreatedDateTime": when,
            "equipmentEventTypeCode": code, "equipmentReference": "APZU4812090",
            "emptyIndicatorCode": "LADEN", "eventLocation": {"UNLocationCode": where},
            "transportCall": {"transportCallID": "tc-1", "modeOfTransport": "VESSEL",
                              "carrierExportVoyageNumber": "2106W",
                              "UNLocationCode": where},
            "documentReferences": [{"documentReferenceType": "BKG",
                                    "documentReferenceValue": "ABC123123123"},
                                   {"documentReferenceType": "TRD",
                                    "documentReferenceValue": TN}]}


def transport(event_id: str, code: str, when: str, where: str, classifier: str) -> dict[str, Any]:
    return {"eventID": event_id, "eventType": "TRANSPORT", "eventClassifierCode": classifier,
            "eventDateTime": when, "eventCreatedDateTime": "2009-03-05T00:00:00Z",
            "transportEventTypeCode": code, "delayReasonCode": "WEA",
            "transportCall": {"transportCallID": "tc-2", "modeOfTransport": "VESSEL",
                              "carrierExportVoyageNumber": "2106W",
                              "location": {"UNLocationCode": where}},
            "documentReferences": [{"documentReferenceType": "TRD",
                                    "documentReferenceValue": TN}]}


NOTIFICATION = [
    equipment("e-gtin", "GTIN", "2009-03-02T10:00:00+08:00"),
    equipment("e-load", "LOAD", "2009-03-03T06:00:00+08:00"),
    transport("e-depa", "DEPA", "2009-03-03T08:00:00+08:00", "HKHKG", "ACT"),
    transport("e-arri-est", "ARRI", "2009-03-22T00:00:00+01:00", "NLRTM", "EST"),
    equipment("e-new", "XRAY", "2009-03-03T07:00:00+08:00"),  # a code DCSA may add one day
]


def post(client: TestClient[Any], events: Any, *, secret: str = DCSA_SECRET,
         signature: str | None = None) -> Any:
    body = json.dumps(events, indent=1).encode()  # signed as sent, whitespace and all
    headers = {"Notification-Signature": signature or hex_signature(secret, body),
               "Content-Type": "application/json"}
    return client.post(URL, content=body, headers=headers)


def test_a_notification_becomes_scans_and_an_eta_on_the_tracked_shipment(client) -> None:
    book(client, TN, route=ROUTE, destination="NLRTM")
    r = post(client, NOTIFICATION)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert (answer["recorded"], answer["duplicates"], answer["rejected"]) == (5, 0, 0)
    view = track(client, TN, answer["position"])
    assert [e["event"] for e in view["events"]] == ["RECEIVED", "LOADED", "DEPARTED"]
    assert view["transport_status"] == "ONBOARD" and view["current_voyage"] == "2106W"
    # The carrier's estimate, not the schedule (2009-03-20), in the offset it was given.
    assert view["eta"] == "2009-03-22T00:00:00+01:00"
    assert not view["misdirected"]

    events = history(client, TN)
    assert [e["type"] for e in events][2:] == [
        "ScanRecorded", "ScanRecorded", "ScanRecorded", "EstimateReceived", "CarrierEventNoted"]
    load = events[3]
    assert load["source"] == {"kind": "carrier", "id": "dcsa"}
    assert load["data"]["scan"]["reported"] == {
        "format": "dcsa", "event_id": "e-load", "code": "LOAD", "text": "ACT EQUIPMENT event",
        "mapping": load_mapping("dcsa")["codes"].provenance}  # the mapping that translated it
    assert events[5]["data"]["reported"]["text"] == "EST TRANSPORT event (delay WEA)"
    unknown = events[6]
    assert unknown["data"]["reported"]["code"] == "XRAY"
    assert unknown["occurred_at"] == "2009-03-03T07:00:00+08:00"
    assert metric(client, source="dcsa", code_class="unknown") == 1
    assert metric(client, source="dcsa", code_class="mapped") == 3
    assert metric(client, source="dcsa", code_class="estimate") == 1


def test_the_same_notification_again_records_nothing_twice(client) -> None:
    book(client, TN, route=ROUTE, destination="NLRTM")
    assert post(client, NOTIFICATION).json()["recorded"] == 5
    before = types(client, TN)
    again = post(client, NOTIFICATION)
    assert again.status_code == 200
    assert (again.json()["recorded"], again.json()["duplicates"]) == (0, 5)
    assert types(client, TN) == before


def test_a_bad_or_missing_signature_is_refused_and_nothing_recorded(client) -> None:
    book(client, TN, route=ROUTE, destination="NLRTM")
    assert post(client, NOTIFICATION, secret="not-the-secret").status_code == 401
    assert post(client, NOTIFICATION, signature="sha256=zz").status_code == 401
    body = json.dumps(NOTIFICATION).encode()
    unsigned = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    assert "signature" in unsigned.json()["detail"]
    assert types(client, TN) == ["Opened", "Booked"]


def test_a_malformed_notification_is_refused_naming_the_field(client) -> None:
    book(client, TN, route=ROUTE, destination="NLRTM")
    missing = [NOTIFICATION[0], {k: v for k, v in NOTIFICATION[1].items() if k != "eventDateTime"}]
    r = post(client, missing)
    assert r.status_code == 422 and r.json()["field"] == "[1].eventDateTime"
    wrong_type = [{**NOTIFICATION[0], "eventDateTime": 20090302}]
    r = post(client, wrong_type)
    assert r.status_code == 422 and r.json()["field"] == "[0].eventDateTime"
    assert types(client, TN) == ["Opened", "Booked"]  # nothing of a refused notification


def test_an_event_that_cannot_be_right_is_refused_alone_naming_its_field(client) -> None:
    # A publisher resends a refused notification whole: one event we cannot
    # place must not hold back the others.
    book(client, TN, route=ROUTE, destination="NLRTM")
    events = [NOTIFICATION[0],
              transport("e-x", "ARRI", "2009-03-20T00:00:00Z", "XX1", "ACT"),
              {**NOTIFICATION[2], "documentReferences": []}]
    r = post(client, events)
    assert r.status_code == 200
    answer = r.json()
    assert (answer["recorded"], answer["rejected"]) == (1, 2)
    assert [(x["result"], x.get("field")) for x in answer["results"]] == [
        ("recorded", None),
        ("rejected", "[1].transportCall.location.UNLocationCode"),
        ("rejected", "[2].documentReferences")]
    assert answer["results"][1]["scan_id"] == "dcsa:e-x"
    assert types(client, TN) == ["Opened", "Booked", "ScanRecorded"]
    assert metric(client, source="dcsa", code_class="refused") == 2
