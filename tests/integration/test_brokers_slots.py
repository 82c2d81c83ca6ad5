"""A consumer of a shared subscription SIGKILLed and never restarted, on a
Mosquitto of the test's own (tests/integration/test_mqtt.py private_broker).

Without slots its share of every later scan is queued in its session,
stranded until the session expires and then dropped: shown first. With
TRACKING_MQTT_SLOTS (adapters/mqtt/slots.py) the survivor takes the dead
process's slot, resumes its session and records every scan, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from adapters.composition import build_consumer, build_dead_letters
from adapters.mqtt.consumer import BrokerAddress
from adapters.settings import Settings
from tests.builders import AGENT, HK_STO, booking
from tests.integration.test_mqtt import private_broker, scan_json  # noqa: F401 - a fixture
from tests.waiting import eventually
from tracking.application import ShipmentService

TOPIC = "scanners/hkg/dock-7/scans"


@pytest.fixture
def database_url(postgres_schema_url: str) -> str:
    """PostgreSQL only: the slots' leases are its advisory locks."""
    return postgres_schema_url


def booked(service: ShipmentService, prefix: str, count: int = 20) -> list[str]:
    tns = [f"{prefix}{i:06d}" for i in range(count)]
    for tn in tns:
        service.book(tn, booking(), HK_STO, AGENT)
    return tns


def publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def recorded(service: ShipmentService, tns: list[str]) -> int:
    return sum(len(service.get(tn).scans) for tn in tns)


def assert_each_once(service: ShipmentService, tns: list[str], each: int) -> None:
    for tn in tns:  # opened, booked, then each scan once
        assert [e.originator_version for e in service.history(tn)] == list(range(1, 3 + each))


# A member of the group as its own process, killed with SIGKILL by the test.
MEMBER = """
import sys, time
from adapters.composition import build_consumer, build_dead_letters, build_service
from adapters.mqtt.consumer import BrokerAddress
from adapters.settings import Settings
settings = Settings(database_url=sys.argv[1], mqtt_client_id=sys.argv[2], mqtt_group=sys.argv[3])
service = build_service(settings)
consumer = build_consumer(settings, service, build_dead_letters(settings), session_expiry=3,
                          broker=BrokerAddress("127.0.0.1", int(sys.argv[4]))).start()
consumer.connected.wait(10)
time.sleep(0.5)
print("subscribed", flush=True)
time.sleep(600)
"""


def test_without_slots_a_killed_members_share_is_stranded_then_dropped(
    database_url: str, service: ShipmentService, private_broker: Callable[[], None],
) -> None:
    """The failure the slots exist for, on Mosquitto 2.0: a member
    SIGKILLed, its session (here 3 s) keeps taking its share; when the
    session has expired, a consumer with its client id finds nothing."""
    port = private_broker.port  # type: ignore[attr-defined]
    tns = booked(service, "STRAND")
    group, gone = f"g{uuid.uuid4().hex[:8]}", f"gone-{uuid.uuid4().hex[:8]}"
    member = subprocess.Popen([sys.executable, "-c", MEMBER, database_url, gone, group, str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    settings = Settings(database_url=database_url, mqtt_group=group, mqtt_client_id="survivor")
    letters = build_dead_letters(settings)
    survivor = build_consumer(settings, service, letters, broker=BrokerAddress("127.0.0.1", port),
                              session_expiry=60).start()
    pub = publisher(port)
    try:
        assert member.stdout is not None and member.stdout.readline() == b"subscribed\n"
        assert survivor.connected.wait(10)
        time.sleep(0.3)
        member.send_signal(signal.SIGKILL)
        member.wait(10)
        sent = [scan_json(tn, scan_id=f"{tn}-{k}") for k in range(2) for tn in tns]
        for s in sent:
            pub.publish(TOPIC, json.dumps(s), qos=1).wait_for_publish(10)  # the broker has it
        eventually(lambda: survivor.metrics.value("tracking_scans_received_total",
                                                  ingress="mqtt") > 0)
        time.sleep(5)  # the dead member's session expires, and its queue with it
        back = build_consumer(settings.__class__(database_url=database_url, mqtt_group=group,
                                                 mqtt_client_id=gone),
                              service, letters, broker=BrokerAddress("127.0.0.1", port),
                              session_expiry=60).start()
        assert back.connected.wait(10)
        time.sleep(2)
        back.stop()
        got = recorded(service, tns)
        assert 0 < got < len(sent)  # its share was never recorded: stranded, then dropped
        assert survivor.metrics.value("tracking_scans_received_total", ingress="mqtt") == got
    finally:
        member.kill()
        pub.loop_stop()
        survivor.stop()
        letters.close()


class Ingest:
    """``tracking ingest`` with slots on the private broker."""

    def __init__(self, database_url: str, port: int, group: str, log: Path) -> None:
        self.log = log
        env = {**os.environ, "TRACKING_DATABASE_URL": database_url,
               "TRACKING_MQTT_URL": f"mqtt://127.0.0.1:{port}", "TRACKING_MQTT_GROUP": group,
               "TRACKING_MQTT_CLIENT_ID": "ingest", "TRACKING_MQTT_SLOTS": "2",
               "TRACKING_LOG_FORMAT": "json"}
        with open(log, "wb") as stderr:
            self.process = subprocess.Popen([sys.executable, "-m", "adapters.cli", "ingest"], env=env,
                                            stdout=subprocess.DEVNULL, stderr=stderr)

    def slots(self) -> set[int]:
        return held_slots(self.log)


def held_slots(log: Path) -> set[int]:
    """The slots a `tracking ingest` holds now, from its JSON log lines."""
    held: set[int] = set()
    for line in log.read_text().splitlines():
        entry = json.loads(line) if line.startswith("{") else {}
        if entry.get("msg", "").startswith("holding MQTT slot"):
            held.add(entry["slot"])
        elif entry.get("msg", "").startswith("released MQTT slot"):
            held.discard(entry["slot"])
    return held


@pytest.fixture
def ingests(tmp_path: Path) -> Iterator[list[Ingest]]:
    started: list[Ingest] = []
    yield started
    for run in started:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait(10)


def test_with_slots_a_member_sigkilled_and_never_restarted_strands_nothing(
    database_url: str, service: ShipmentService, private_broker: Callable[[], None],
    tmp_path: Path, ingests: list[Ingest],
) -> None:
    port = private_broker.port  # type: ignore[attr-defined]
    tns = booked(service, "SLOT")
    group = f"g{uuid.uuid4().hex[:8]}"
    ingests += [Ingest(database_url, port, group, tmp_path / f"{n}.log") for n in "ab"]
    a, b = ingests
    eventually(lambda: len(a.slots()) == 1 and len(b.slots()) == 1, timeout=60,
               what="each process holds one of the two slots")
    eventually(lambda: all(r.log.read_text().count("connected to the broker") >= 1 for r in ingests),
               timeout=30, what="both connected")
    time.sleep(0.5)  # both subscribed
    pub = publisher(port)
    sent = [scan_json(tn, scan_id=f"{tn}-{k}") for k in range(20) for tn in tns]
    acked: list[Any] = []

    def feed() -> None:
        for s in sent:
            acked.append(pub.publish(TOPIC, json.dumps(s), qos=1))
            acked[-1].wait_for_publish(10)
            time.sleep(0.002)

    feeding = threading.Thread(target=feed)
    try:
        feeding.start()
        eventually(lambda: recorded(service, tns) >= 100, timeout=60)
        a.process.send_signal(signal.SIGKILL)  # mid-stream, never restarted
        a.process.wait(10)
        feeding.join(120)
        assert len(acked) == len(sent) and all(m.is_published() for m in acked)
        eventually(lambda: recorded(service, tns) == len(sent), timeout=90,
                   what="every scan acknowledged by the broker recorded")
        assert b.slots() == {0, 1}  # the survivor took the dead one's slot
        time.sleep(1)  # nothing more comes: nothing twice
    finally:
        pub.loop_stop()
    assert_each_once(service, tns, 20)
    b.process.send_signal(signal.SIGTERM)
    assert b.process.wait(30) == 0


@pytest.mark.parametrize(("env", "says"), [
    ({"TRACKING_MQTT_SLOTS": "2"}, "needs TRACKING_MQTT_GROUP"),
    ({"TRACKING_MQTT_SLOTS": "2", "TRACKING_MQTT_GROUP": "g"}, "needs a postgresql://"),
    ({"TRACKING_MQTT_SLOTS": "0", "TRACKING_MQTT_GROUP": "g"}, "must be at least 1"),
])
def test_slots_without_a_group_or_postgresql_stop_the_start_naming_why(
    env: dict[str, str], says: str, tmp_path: Path,
) -> None:
    from adapters.settings import ConfigError

    with pytest.raises(ConfigError, match="TRACKING_MQTT_SLOTS") as raised:
        Settings.from_env({"TRACKING_DATABASE_URL": f"sqlite:///{tmp_path}/t.db", **env})
    assert says in str(raised.value)


def test_a_process_that_loses_its_leases_connection_stops_its_slots_and_takes_them_again(
    database_url: str, service: ShipmentService, private_broker: Callable[[], None],
) -> None:
    """The leases go with their connection (here terminated by the server):
    another process could take the slots at once, so this one stops their
    consumers first, then reconnects and takes what is free; every scan
    published meanwhile is recorded once."""
    from adapters.metrics import Metrics
    from adapters.mqtt.slots import slotted

    port = private_broker.port  # type: ignore[attr-defined]
    tns = booked(service, "LEASE", 10)
    settings = Settings(database_url=database_url, mqtt_group=f"g{uuid.uuid4().hex[:8]}",
                        mqtt_slots=2, mqtt_client_id=f"ingest-{uuid.uuid4().hex[:6]}")
    letters, metrics = build_dead_letters(settings), Metrics()
    broker = BrokerAddress("127.0.0.1", port)
    slots = slotted(settings, lambda client_id: build_consumer(
        Settings(database_url=database_url, mqtt_group=settings.mqtt_group, mqtt_client_id=client_id),
        service, letters, broker=broker, metrics=metrics, session_expiry=60), broker, metrics,
        interval=0.2).start()
    pub = publisher(port)
    try:
        eventually(lambda: set(slots.held) == {0, 1} and slots.connected.is_set(), timeout=30)
        time.sleep(0.5)
        first = dict(slots.held)
        assert slots.leases.conn is not None
        backend = slots.leases.conn.info.backend_pid
        sent = [scan_json(tn, scan_id=f"{tn}-{k}") for k in range(10) for tn in tns]
        for s in sent[:50]:
            pub.publish(TOPIC, json.dumps(s), qos=1).wait_for_publish(10)
        with psycopg.connect(settings.postgres_conninfo()[0], autocommit=True) as admin:
            admin.execute("select pg_terminate_backend(%s)", (backend,))
        for s in sent[50:]:
            pub.publish(TOPIC, json.dumps(s), qos=1).wait_for_publish(10)
        eventually(lambda: set(slots.held) == {0, 1} and all(
            slots.held[k] is not first[k] for k in (0, 1)), timeout=30,
            what="both slots taken again, by new consumers")
        assert all(not c.connected.is_set() for c in first.values())  # the old ones stopped
        assert slots.leases.conn.info.backend_pid != backend
        eventually(lambda: recorded(service, tns) == len(sent), timeout=60)
        time.sleep(1)
    finally:
        pub.loop_stop()
        slots.stop()
        letters.close()
    assert_each_once(service, tns, 10)
