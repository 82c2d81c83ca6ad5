"""An EPCIS event captured together with its errorDeclaration, whose
original never reached us (GS1's own examples capture events this way):
what the carrier declared is recorded, marked retracted with the
declaration's reason and time, and nothing derived counts it. The
document is written here from the EPCIS 2.0 structure (an ObjectEvent with
``errorDeclaration``, and the corrective event beside it)."""

from __future__ import annotations

from typing import Any

from tests.carriers.conftest import book, history, metric, track, types
from tests.carriers.test_epcis import capture

TN = "EPC9521234012345"  # urn:epc:id:sgtin:9521234.012345.1002 in the master data
WRONG = "urn:uuid:7c1a3d52-2f0e-4c59-9a51-0d5a3e1b6f01"
RIGHT = "urn:uuid:7c1a3d52-2f0e-4c59-9a51-0d5a3e1b6f02"


def event(event_id: str, biz_step: str, read_point: str, **extra: Any) -> dict[str, Any]:
    return {"type": "ObjectEvent", "eventTime": "2026-11-20T08:00:00+08:00",
            "eventTimeZoneOffset": "+08:00", "eventID": event_id,
            "epcList": ["urn:epc:id:sgtin:9521234.012345.1002"], "action": "OBSERVE",
            "bizStep": biz_step, "readPoint": {"id": read_point}, **extra}


DECLARED = event(  # received in Stockholm, said the carrier, then said it was wrong
    WRONG, "receiving", "urn:epc:id:sgln:9521234.00020.0",
    errorDeclaration={"declarationTime": "2026-11-21T09:00:00+08:00",
                      "reason": "incorrect_data", "correctiveEventIDs": [RIGHT]})
DOCUMENT = {
    "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
    "type": "EPCISDocument", "schemaVersion": "2.0",
    "creationDate": "2026-11-21T09:00:00+08:00",
    "epcisBody": {"eventList": [
        DECLARED,
        event(RIGHT, "shipping", "urn:epc:id:sgln:9521234.00010.1"),  # shipped from HKG
    ]},
}


def test_an_event_declared_an_error_that_never_reached_us_is_kept_retracted(client) -> None:
    book(client, TN)
    r = capture(client, DOCUMENT)
    assert r.status_code == 200, r.text
    assert [x["result"] for x in r.json()["results"]] == ["recorded", "recorded"]

    # What the carrier declared is in the history, retracted from the start ...
    assert types(client, TN) == ["Opened", "Booked", "RetractedEventRecorded", "ScanRecorded"]
    declared = history(client, TN)[2]
    assert declared["occurred_at"] == "2026-11-21T09:00:00+08:00"  # declared an error
    data = declared["data"]
    assert (data["retracted_id"], data["reason"]) == (f"epcis:{WRONG}", "incorrect_data")
    assert data["declared_at"] == "2026-11-21T09:00:00+08:00"
    assert data["corrected_by"] == [f"epcis:{RIGHT}"]
    assert (data["scan"]["event"], data["scan"]["location"]) == ("RECEIVED", "SESTO")
    assert data["scan"]["occurred_at"] == "2026-11-20T08:00:00+08:00"

    # ... and nothing derived counts it: only the corrective event is.
    view = track(client, TN, r.json()["position"])
    assert [(e["event"], e["location"]) for e in view["events"]] == [("DEPARTED", "HKHKG")]
    assert view["last_location"] == "HKHKG"
    assert metric(client, source="epcis", code_class="retraction") == 1

    # The same document again, or the original sent late: recorded once, still retracted.
    assert capture(client, DOCUMENT).json()["duplicates"] == 2
    original = {k: v for k, v in DECLARED.items() if k != "errorDeclaration"}
    late = capture(client, {**DOCUMENT, "epcisBody": {"eventList": [original]}}).json()
    assert late["duplicates"] == 1
    assert track(client, TN)["last_location"] == "HKHKG"


def test_declared_an_error_at_a_place_the_master_data_does_not_know_is_kept_as_a_note(
    client,
) -> None:
    book(client, TN)
    nowhere = {**DECLARED, "readPoint": {"id": "urn:epc:id:sgln:9999999.00000.1"}}
    r = capture(client, {**DOCUMENT, "epcisBody": {"eventList": [nowhere]}})
    assert r.status_code == 200 and r.json()["recorded"] == 1, r.text
    declared = history(client, TN)[-1]
    assert declared["type"] == "RetractedEventRecorded"
    assert declared["data"]["scan"] is None
    assert declared["data"]["note"]["reported"]["code"] == "receiving"
    assert track(client, TN)["events"] == []
