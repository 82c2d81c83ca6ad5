"""`tracking remap` end to end: after a mapping change, a dry run prints the
difference and records nothing; the run records it; `explain` cites the
mapping that translated the event; a second run finds nothing."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.carriers.remap import Mappings
from adapters.cli import main
from adapters.settings import Settings
from tests.builders import at
from tests.e2e.conftest import AGENT, MERCHANT, Clock
from tests.e2e.test_console import sign_in
from tests.e2e.test_http import BOOKING, TN
from tests.unit.test_remap import dcsa, said


def test_remap_prints_then_records_the_difference_and_explain_cites_the_mapping(
    client: TestClient[Any], clock: Clock, settings: Settings, make_service: Any,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    clock.now = at(20)
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    said(make_service(clock), dcsa(), "e-1", "XRAY")  # a code the mapping does not know
    monkeypatch.setenv("TRACKING_DATABASE_URL", settings.database_url)
    new = dcsa('XRAY = "RECEIVED"')
    monkeypatch.setattr(Mappings, "shipped", classmethod(lambda cls: new))

    assert main(["remap", "--dry-run", "--source", "dcsa"]) == 0
    out = capsys.readouterr().out
    assert f"{TN} v3 dcsa:e-1: a note -> RECEIVED" in out and "would correct 1 " in out
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    assert [e["type"] for e in history] == ["Opened", "Booked", "CarrierEventNoted"]

    assert main(["remap"]) == 0
    assert "corrected 1 carrier event" in capsys.readouterr().out
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    assert [e["type"] for e in history][2:] == ["CarrierEventNoted", "ScanRetracted",
                                                "ScanRecorded"]
    mapping = new.tables["dcsa"]["codes"].provenance
    assert history[-1]["data"]["scan"]["reported"]["mapping"] == mapping
    why = client.get(f"/api/v1/shipments/{TN}/explain", headers=AGENT).json()
    transport = next(f for f in why if f["field"] == "transport_status")
    assert transport["value"] == "AT_FACILITY"
    assert transport["because"][-1]["mapping"] == mapping

    assert main(["remap"]) == 0
    assert "corrected 0 carrier event(s): every translation" in capsys.readouterr().out

    sign_in(client)  # the console says it too: which mapping, and the note retracted
    page = client.get(f"/agent/shipments/{TN}").text
    assert f"(translated by <code>{mapping}</code>)" in page
    assert "retracted at v4</span>" in page and "retraction of dcsa:e-1</span>" in page
