"""GS1 EPCIS 2.0 capture, end to end from sample documents shaped as the
standard's examples (tests/data/carriers/epcis): objects and locations
through the master data, bizStep and disposition to our codes, errorDeclaration as a
retraction that leaves the original in the history."""

from __future__ import annotations

import copy
from typing import Any

from litestar.testing import TestClient

from adapters.carriers.mapping import load as load_mapping
from tests.carriers.conftest import book, history, metric, sample, track, types
from tests.e2e.conftest import CARRIER, DEVICE

URL = "/api/v1/epcis/capture"
TN = "EPC9521234012345"  # urn:epc:id:sgtin:9521234.012345.1002 in the master data
OBJECT_EVENTS = "epcis/object-events.jsonld"  # shipping in Hong Kong, receiving in Stockholm
AGGREGATION = "epcis/aggregation-event.jsonld"
ERROR_DECLARATION = "epcis/error-declaration-and-corrective-event.jsonld"


def capture(client: TestClient[Any], document: Any, headers: dict[str, str] = CARRIER) -> Any:
    return client.post(URL, json=document, headers=headers)


def test_object_events_become_scans_where_the_master_data_places_them(client) -> None:
    book(client, TN)
    r = capture(client, sample(OBJECT_EVENTS))
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] == 2
    view = track(client, TN, r.json()["position"])
    assert [(e["event"], e["location"]) for e in view["events"]] == [
        ("DEPARTED", "HKHKG"), ("RECEIVED", "SESTO")]  # shipping, then receiving
    assert view["last_location"] == "SESTO"
    scan = history(client, TN)[2]
    assert scan["source"]["kind"] == "carrier"
    assert scan["data"]["scan"]["reported"] == {
        "format": "epcis",
        "event_id": "ni:///sha-256;ff244502cb664c1108612532a35799dcfcd450a1360d063b3d567041f3548d0e?ver=CBV2.0",
        "code": "shipping",
        "text": "type ObjectEvent, action OBSERVE, bizStep shipping, disposition in_transit",
        "mapping": load_mapping("epcis")["bizSteps"].provenance}


def test_an_aggregation_event_finds_the_shipment_by_its_sscc(client) -> None:
    tn = "SSCC95212340000000042"
    book(client, tn)
    r = capture(client, sample(AGGREGATION))
    assert r.status_code == 200, r.text
    view = track(client, tn, r.json()["position"])
    assert [(e["event"], e["location"]) for e in view["events"]] == [("RECEIVED", "SEGOT")]


def test_the_same_document_again_is_recorded_once(client) -> None:
    book(client, TN)
    capture(client, sample(OBJECT_EVENTS))
    again = capture(client, sample(OBJECT_EVENTS)).json()
    assert (again["recorded"], again["duplicates"]) == (0, 2)
    assert types(client, TN).count("ScanRecorded") == 2


def test_an_error_declaration_retracts_the_event_but_not_its_history(client) -> None:
    book(client, TN)
    document = sample(OBJECT_EVENTS)
    capture(client, document)
    declared = copy.deepcopy(document)
    wrong = declared["epcisBody"]["eventList"][1]  # the receiving in Stockholm
    wrong["errorDeclaration"] = {"declarationTime": "2026-11-22T00:00:00Z",
                                 "reason": "incorrect_data"}
    declared["epcisBody"]["eventList"] = [wrong]
    r = capture(client, declared)
    assert r.status_code == 200 and r.json()["recorded"] == 1, r.text
    view = track(client, TN, r.json()["position"])
    assert [e["event"] for e in view["events"]] == ["DEPARTED"]
    assert view["last_location"] == "HKHKG"
    assert types(client, TN)[-3:] == ["ScanRecorded", "ScanRecorded", "ScanRetracted"]
    retraction = history(client, TN)[-1]
    assert retraction["data"]["retracted_id"] == "epcis:" + wrong["eventID"]
    assert retraction["data"]["reason"] == "incorrect_data"
    assert capture(client, declared).json()["duplicates"] == 1  # retracted once


def test_an_error_declaration_sent_with_its_corrective_event(client) -> None:
    tn = "SGTIN952123406789055"
    book(client, tn)
    document = sample(ERROR_DECLARATION)
    original = copy.deepcopy(document)
    del original["epcisBody"]["eventList"][0]["errorDeclaration"]
    original["epcisBody"]["eventList"] = original["epcisBody"]["eventList"][:1]
    assert capture(client, original).json()["recorded"] == 1
    r = capture(client, document)
    assert (r.json()["recorded"], r.json()["rejected"]) == (2, 0), r.text
    events = history(client, tn)
    # commissioning has no equivalent of ours: noted as said, then retracted and corrected
    assert [e["type"] for e in events][2:] == [
        "CarrierEventNoted", "ScanRetracted", "CarrierEventNoted"]
    assert events[3]["data"]["corrected_by"] == ["epcis:urn:uuid:c18210b1-56ad-4c96-8d80-f90b7fab0ab0"]
    assert metric(client, source="epcis", code_class="retraction") == 1
    assert metric(client, source="epcis", code_class="no_equivalent") == 2


def test_a_declaration_of_an_event_never_recorded_records_it_retracted(client) -> None:
    book(client, "SGTIN952123406789055")
    r = capture(client, sample(ERROR_DECLARATION))
    assert [x["result"] for x in r.json()["results"]] == ["recorded", "recorded"]
    assert types(client, "SGTIN952123406789055")[2:] == [
        "RetractedEventRecorded", "CarrierEventNoted"]  # tests/carriers/test_epcis_declared.py


def test_with_proceed_an_event_that_cannot_be_right_is_refused_alone(client) -> None:
    book(client, TN)
    document = sample(OBJECT_EVENTS)
    document["epcisBody"]["eventList"][0]["readPoint"]["id"] = "urn:epc:id:sgln:9999999.00000.1"
    r = client.post(URL, json=document,
                    headers={**CARRIER, "GS1-Capture-Error-Behaviour": "proceed"})
    assert r.status_code == 200, r.text
    assert [(x["result"], x.get("field")) for x in r.json()["results"]] == [
        ("rejected", "epcisBody.eventList[0].readPoint.id"), ("recorded", None)]
    assert types(client, TN).count("ScanRecorded") == 1
    r = client.post(URL, json=document,
                    headers={**CARRIER, "GS1-Capture-Error-Behaviour": "sometimes"})
    assert r.status_code == 422 and r.json()["field"] == "GS1-Capture-Error-Behaviour"


def test_capture_needs_a_carrier_token(client) -> None:
    document = sample(OBJECT_EVENTS)
    assert client.post(URL, json=document).status_code == 401
    assert capture(client, document, headers=DEVICE).status_code == 403


def test_what_the_master_data_does_not_know_is_refused_naming_the_field(client) -> None:
    book(client, TN)
    document = sample(OBJECT_EVENTS)
    document["epcisBody"]["eventList"][1]["bizLocation"]["id"] = "urn:epc:id:sgln:9999999.00000.0"
    document["epcisBody"]["eventList"][1]["readPoint"]["id"] = "urn:epc:id:sgln:9999999.00000.1"
    r = capture(client, document)
    assert r.status_code == 422
    assert r.json()["field"] == "epcisBody.eventList[1].bizLocation.id"
    unknown_object = sample(OBJECT_EVENTS)
    unknown_object["epcisBody"]["eventList"][0]["epcList"] = ["urn:epc:id:sgtin:1.2.3"]
    r = capture(client, unknown_object)
    assert r.status_code == 422 and r.json()["field"] == "epcisBody.eventList[0].epcList"
    no_time = sample(OBJECT_EVENTS)
    del no_time["epcisBody"]["eventList"][0]["eventTime"]
    r = capture(client, no_time)
    assert r.status_code == 422 and r.json()["field"] == "epcisBody.eventList[0].eventTime"
    assert types(client, TN) == ["Opened", "Booked"]
