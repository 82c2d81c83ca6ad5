"""The persistent sessions tests open on a shared broker, and their removal.

A consumer's session outlives it (the consumer's point: the broker queues
scans while it is away). On a broker that other runs and other programs use,
a session a test leaves behind is queued a copy of every later scan until it
expires, and its retained marker (adapters/mqtt/takeover.py) stays. So every
test that consumes from the shared broker forgets its client ids afterwards,
and tests/integration/conftest.py checks at the end of the run that none is
left.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from adapters.mqtt.consumer import BrokerAddress
from adapters.mqtt.takeover import marker_topic
from adapters.settings import Settings

SHARED_URL = os.environ.get("TRACKING_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
SHARED = BrokerAddress(*Settings(mqtt_url=SHARED_URL).broker_address())
# Client ids this run consumed as on the shared broker (tests/integration/conftest.py).
OPENED: set[str] = set()


def reachable(broker: BrokerAddress) -> bool:
    try:
        socket.create_connection((broker.host, broker.port), timeout=3).close()
    except OSError:
        return False
    return True


def _connected(broker: BrokerAddress, client_id: str, *, clean_start: bool) -> tuple[mqtt.Client, bool]:
    """A client connected with ``client_id`` and session expiry 0 (so the
    broker ends its session when it disconnects), and whether the broker
    still held a session for that id."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    answered = threading.Event()
    present: dict[str, bool] = {}

    def on_connect(_: mqtt.Client, __: Any, flags: Any, reason: Any, ___: Any) -> None:
        present["session"] = bool(flags.session_present) and not reason.is_failure
        answered.set()

    client.on_connect = on_connect
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0
    client.connect(broker.host, broker.port, clean_start=clean_start, properties=properties)
    client.loop_start()
    if not answered.wait(10):
        raise AssertionError(f"no CONNACK from {broker.host}:{broker.port} for {client_id}")
    return client, present["session"]


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def forget(broker: BrokerAddress, *client_ids: str) -> None:
    """End the sessions of ``client_ids`` (a clean start, expiry 0) and clear
    their retained markers."""
    for client_id in client_ids:
        client, _ = _connected(broker, client_id, clean_start=True)
        client.publish(marker_topic(client_id), b"", qos=1, retain=True).wait_for_publish(10)
        _close(client)


def left_behind(broker: BrokerAddress, client_ids: Iterable[str]) -> dict[str, str]:
    """Which of ``client_ids`` still have a session or a retained marker on
    the broker, and which. Checking resumes each session with expiry 0, so
    it ends it too: the broker is left clean either way."""
    ids = set(client_ids)
    left: dict[str, str] = {}
    watcher, _ = _connected(broker, f"check-{uuid.uuid4().hex[:8]}", clean_start=True)
    markers: set[str] = set()
    watcher.on_message = lambda _, __, m: markers.add(m.topic) if m.retain and m.payload else None
    watcher.subscribe("tracking/consumers/#", qos=0)
    time.sleep(1.0)  # the retained markers arrive
    _close(watcher)
    for client_id in sorted(ids):
        client, present = _connected(broker, client_id, clean_start=False)
        _close(client)
        found = [what for what, yes in (("session", present),
                                        ("marker", marker_topic(client_id) in markers)) if yes]
        if found:
            left[client_id] = " and ".join(found)
    if any("marker" in v for v in left.values()):
        forget(broker, *(k for k, v in left.items() if "marker" in v))
    return left
