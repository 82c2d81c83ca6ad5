"""A tracking number printed in groups (``LX 123 456 785 CN``) is the same
number whichever way it comes in without HTTP: a scan over MQTT (and its
resubmission from the dead letters, which parses it the same way), a
carrier's payload, the carriers' master data."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.carriers import aggregator, dcsa
from adapters.carriers.masterdata import MasterData
from adapters.mqtt.consumer import parse_scan

PRINTED = "LX 123 456 785 CN"
TN = "LX123456785CN"


def test_a_scan_over_mqtt() -> None:
    payload = json.dumps({
        "scan_id": "s-1", "tracking_number": "lx-123-456-785-cn", "event": "RECEIVED",
        "location": "HKHKG", "occurred_at": "2009-03-02T08:00:00+08:00",
        "new_tracking_number": None,
    }).encode()
    assert parse_scan("scanners/hkg/dock-7/scans", payload).tracking_number == TN


def test_a_dcsa_event_s_document_reference() -> None:
    body = json.dumps([{
        "eventID": "e-1", "eventType": "TRANSPORT", "eventClassifierCode": "ACT",
        "eventDateTime": "2009-03-03T00:00:00Z", "transportEventTypeCode": "DEPA",
        "transportCall": {"UNLocationCode": "HKHKG"},
        "documentReferences": [{"documentReferenceType": "TRD",
                                "documentReferenceValue": PRINTED}],
    }]).encode()
    [translated] = dcsa.parse(body)
    assert translated.update.tracking_number == TN  # type: ignore[union-attr]


def test_an_aggregator_webhook() -> None:
    body = json.dumps({
        "ts": 1236000000, "msg": {"tracking_number": PRINTED, "checkpoints": [
            {"checkpoint_time": "2009-03-02T08:00:00+08:00", "tag": "InTransit"}]},
    }).encode()
    _, [translated] = aggregator.parse(body, MasterData())
    assert translated.update.tracking_number == TN


def test_the_carriers_master_data(tmp_path: Path) -> None:
    master = tmp_path / "master.toml"
    master.write_text(f'[epcis.objects]\n"urn:epc:id:sscc:0614141.1234567890" = "{PRINTED}"\n')
    assert MasterData.load(master).objects == {"urn:epc:id:sscc:0614141.1234567890": TN}
