"""The real app on each store, configured with carrier secrets and master
data. Sample payloads are read from tests/data/carriers (see its SOURCE
notes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.settings import CarrierSettings, Settings
from tests.e2e.conftest import AGENT, MERCHANT, TOKENS, Clock, client  # noqa: F401 - fixtures

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "carriers"
NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
DCSA_SECRET = "dcsa-shared-secret"
AGGREGATOR_SECRET = "aftership-webhook-secret"
MASTER_DATA = """
[epcis.objects]
"urn:epc:id:sgtin:9521234.012345.1002" = "EPC9521234012345"
"urn:epc:id:sscc:9521234.0000000042" = "SSCC95212340000000042"
"urn:epc:id:sgtin:9521234.067890.55" = "SGTIN952123406789055"
[epcis.locations]
"urn:epc:id:sgln:9521234.00010.1" = "HKHKG"
"urn:epc:id:sgln:9521234.00020.0" = "SESTO"
"urn:epc:id:sgln:9521234.00020.7" = "SESTO"
"urn:epc:id:sgln:9521234.00030.0" = "SEGOT"
[places]
"HK/HONG KONG" = "HKHKG"
"SE/STOCKHOLM" = "SESTO"
"""


@pytest.fixture
def clock() -> Clock:
    """After every event the tests send (the EPCIS samples go up to
    2026-11-22; scans may not be dated more than a day ahead of the clock)."""
    return Clock(NOW)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    master = tmp_path / "master.toml"
    master.write_text(MASTER_DATA)
    return Settings(database_url=database_url, api_tokens=TOKENS, carriers=CarrierSettings(
        dcsa_secret=DCSA_SECRET, aggregator_secret=AGGREGATOR_SECRET, master_data=master))


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def hex_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def base64_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def book(client: TestClient[Any], tn: str, *, route: list[dict[str, Any]] | None = None,
         origin: str = "HKHKG", destination: str = "SESTO", carrier: str = "postnord") -> None:
    r = client.post("/api/v1/shipments", headers=MERCHANT, json={
        "tracking_number": tn, "carrier": carrier, "origin": origin,
        "destination": destination, "route": route or []})
    assert r.status_code == 201, r.text


def track(client: TestClient[Any], tn: str, position: int | None = None) -> dict[str, Any]:
    r = client.get(f"/api/v1/track/{tn}", params={"min_position": position or 0})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def history(client: TestClient[Any], tn: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/shipments/{tn}/history", headers=AGENT)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def types(client: TestClient[Any], tn: str) -> list[str]:
    return [e["type"] for e in history(client, tn)]


def metric(client: TestClient[Any], **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"tracking_carrier_events_total{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
