"""The embedded default ingests MQTT: a scan published to the in-process
broker is tracked, and one that cannot be a scan is a dead letter that an
agent lists and re-submits corrected."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from litestar.testing import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.builders import at
from tests.e2e.conftest import AGENT, MERCHANT, TOKENS, Clock
from tests.e2e.test_http import BOOKING, TN, scan
from tests.waiting import eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def embedded(database_url: str, clock: Clock) -> Iterator[tuple[TestClient[Any], int]]:
    port = free_port()
    settings = Settings(database_url=database_url, api_tokens=TOKENS, mqtt_embedded_port=port)
    with TestClient(app=create_app(build_api(settings, clock=clock, run_ingest=True))) as client:
        yield client, port


def publish(port: int, payload: bytes, topic: str = "scanners/hkg/hkg-dock-7/scans") -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="newcomer", protocol=mqtt.MQTTv311)
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.publish(topic, payload, qos=1).wait_for_publish(10)
    c.loop_stop()
    c.disconnect()


def test_a_scan_published_to_the_embedded_broker_is_tracked(
    embedded: tuple[TestClient[Any], int], clock: Clock
) -> None:
    client, port = embedded
    clock.now = at(3)
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    publish(port, json.dumps(scan("RECEIVED", "HKHKG", at(2))).encode())
    view = eventually(lambda: (v := client.get(f"/api/v1/track/{TN}").json())["events"] and v)
    assert view["events"][0]["event"] == "RECEIVED"
    assert "\ntracking_broker_connected 1\n" in client.get("/metrics").text


def test_a_dead_letter_is_listed_and_re_submitted_corrected(
    embedded: tuple[TestClient[Any], int], clock: Clock
) -> None:
    client, port = embedded
    clock.now = at(3)
    client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    wrong = {**scan("RECEIVED", "HKHKG", at(2)), "location": "HKHKK0"}
    publish(port, json.dumps(wrong).encode())
    [letter] = eventually(lambda: client.get("/api/v1/dead-letters", headers=AGENT).json())
    assert letter["field"] == "location" and "UN/LOCODE" in letter["reason"]
    assert json.loads(letter["payload"]) == wrong
    fixed = {**wrong, "location": "HKHKG"}
    r = client.post(f"/api/v1/dead-letters/{letter['id']}/resubmit", json=fixed, headers=AGENT)
    assert r.status_code == 201 and r.json()["result"] == "recorded"
    again = client.post(f"/api/v1/dead-letters/{letter['id']}/resubmit", json=fixed, headers=AGENT)
    assert again.status_code == 409
    assert client.get("/api/v1/dead-letters", headers=AGENT).json() == []
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    assert history[-1]["source"]["kind"] == "agent"
    assert client.get("/api/v1/dead-letters", headers=MERCHANT).status_code == 403
