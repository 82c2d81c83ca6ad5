"""Ingestion across a real broker cluster: three NATS servers (the Debian
package's nats-server, MQTT 3.1.1 over JetStream) clustered on loopback,
started by the test on free ports; one node SIGKILLed mid-stream.

Three, not two: the MQTT sessions and messages are JetStream streams,
replicated by Raft, and two nodes lose their quorum with either node (the
survivor refuses every MQTT connection, "JetStream system temporarily
unavailable"). docs/scaling.md has what this shows and what it does not."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from adapters.composition import build_consumer, build_dead_letters
from adapters.mqtt.consumer import BrokerAddress, ScanConsumer
from adapters.settings import Settings
from tests.conftest import IN_CI
from tests.integration.test_brokers_slots import assert_each_once, booked, recorded
from tests.integration.test_mqtt import scan_json
from tests.ports import free_port, listening
from tests.waiting import eventually
from tracking.application import ShipmentService

TOPIC = "scanners/hkg/dock-7/scans"
NATS = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin")


@dataclass
class Node:
    name: str
    config: Path
    mqtt_port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self, log: Path) -> None:
        assert NATS is not None
        with open(log, "ab") as out:
            self.process = subprocess.Popen([NATS, "-c", str(self.config)], stdout=out, stderr=out)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


def cluster_config(tmp: Path, count: int) -> list[Node]:
    """``count`` NATS servers routed to each other, each with JetStream
    (its own store) and an MQTT listener, on free loopback ports."""
    routes = [free_port() for _ in range(count)]
    nodes = []
    for n in range(count):
        mqtt_port = free_port()
        config = tmp / f"n{n}.conf"
        config.write_text(
            f"server_name: n{n}\nlisten: 127.0.0.1:{free_port()}\n"
            f"jetstream {{ store_dir: {tmp}/js{n} }}\n"
            f"cluster {{ name: scans, listen: 127.0.0.1:{routes[n]}, routes: ["
            + ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes) + "] }\n"
            f"mqtt {{ listen: 127.0.0.1:{mqtt_port} }}\n")
        nodes.append(Node(f"n{n}", config, mqtt_port))
    return nodes


def accepts_sessions(port: int) -> bool:
    """Whether the node lets an MQTT client with a persistent session in
    (JetStream placed and ready across the cluster)."""
    answered: dict[str, bool] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ready-{uuid.uuid4().hex[:6]}",
                         protocol=mqtt.MQTTv311, clean_session=True)
    client.on_connect = lambda *a: answered.setdefault("ok", not a[3].is_failure)
    try:
        client.connect("127.0.0.1", port, keepalive=5)
    except OSError:
        return False
    client.loop_start()
    deadline = time.monotonic() + 5
    while "ok" not in answered and time.monotonic() < deadline:
        time.sleep(0.05)
    client.disconnect()
    client.loop_stop()
    return answered.get("ok", False)


@pytest.fixture
def database_url(postgres_schema_url: str) -> str:
    return postgres_schema_url


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[list[Node]]:
    if NATS is None:
        if IN_CI:
            pytest.fail("nats-server is not installed")
        pytest.skip("nats-server is not installed")
    nodes = cluster_config(tmp_path, 3)
    for node in nodes:
        node.start(tmp_path / f"{node.name}.log")
    try:
        for node in nodes:
            eventually(lambda: listening(node.mqtt_port), timeout=30, what=f"{node.name} listens")
            eventually(lambda: accepts_sessions(node.mqtt_port), timeout=60,
                       what=f"{node.name} accepts MQTT sessions")
        yield nodes
    finally:
        for node in nodes:
            node.kill()


def nats_consumer(database_url: str, service: ShipmentService, node: Node, client_id: str,
                  group: str | None = None) -> tuple[ScanConsumer, Any]:
    """A consumer of ``node`` with MQTT 3.1.1 (NATS speaks no MQTT 5)."""
    settings = Settings(database_url=database_url, mqtt_client_id=client_id)
    letters = build_dead_letters(settings)
    consumer = build_consumer(settings, service, letters, broker=BrokerAddress("127.0.0.1", node.mqtt_port),
                              mqtt5=False, group=group, session_expiry=300)
    return consumer, letters


class Scanner:
    """Publishes as a scanner does: QoS 1, each scan until a node PUBACKs it,
    moving to the next node when its node is gone."""

    def __init__(self, nodes: list[Node]) -> None:
        self.ports = [n.mqtt_port for n in nodes]
        self.at = 0
        self.acked: list[str] = []
        self.client = self._connect()

    def _connect(self) -> mqtt.Client:
        while True:
            port = self.ports[self.at % len(self.ports)]
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"scanner-{uuid.uuid4().hex[:6]}",
                                 protocol=mqtt.MQTTv311)
            try:
                client.connect("127.0.0.1", port, keepalive=5)
                client.loop_start()
                return client
            except OSError:
                self.at += 1

    def send(self, scan: dict[str, Any]) -> None:
        while True:
            info = self.client.publish(TOPIC, json.dumps(scan), qos=1)
            try:
                info.wait_for_publish(5)
            except (RuntimeError, ValueError):
                pass
            if info.is_published():
                self.acked.append(scan["scan_id"])
                return
            self.client.loop_stop()  # lost its node: the next one, and send it again
            self.at += 1
            self.client = self._connect()

    def round(self, tns: list[str], k: int) -> None:
        """One scan of each shipment, ``<tn>-<k>``."""
        for tn in tns:
            self.send(scan_json(tn, scan_id=f"{tn}-{k}"))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_node_killed_mid_stream_loses_nothing_acknowledged_and_doubles_nothing(
    database_url: str, service: ShipmentService, nats_cluster: list[Node],
) -> None:
    tns = booked(service, "NATS")
    n0, n1, _ = nats_cluster
    consumer, letters = nats_consumer(database_url, service, n0, f"ingest-{uuid.uuid4().hex[:6]}")
    consumer.start()
    scanner = Scanner(nats_cluster[1:])  # publishes on n1, then n2: across the cluster
    try:
        assert consumer.connected.wait(30)
        time.sleep(1)  # subscribed
        sent = [scan_json(tn, scan_id=f"{tn}-{k}") for k in range(20) for tn in tns]
        killed = threading.Event()

        def kill_mid_stream() -> None:
            eventually(lambda: len(scanner.acked) >= len(sent) // 3, timeout=120)
            n1.kill()  # the scanner's node, with what it acknowledged
            killed.set()

        killer = threading.Thread(target=kill_mid_stream)
        killer.start()
        for s in sent:
            scanner.send(s)
        killer.join(120)
        assert killed.is_set() and scanner.at > 0  # it moved to the next node
        eventually(lambda: set(scanner.acked) <= {s.scan_id for tn in tns for s in service.get(tn).scans},
                   timeout=120, what="every acknowledged scan recorded")
        time.sleep(2)
    finally:
        scanner.close()
        consumer.stop()
        letters.close()
    assert recorded(service, tns) == len(sent)
    assert_each_once(service, tns, 20)


def test_a_session_is_the_clusters_a_consumer_resumes_it_on_another_node(
    database_url: str, service: ShipmentService, nats_cluster: list[Node],
) -> None:
    """What a consumer's node going away needs: its persistent session (and
    what was queued in it meanwhile) is resumed on any other node."""
    tns = booked(service, "NSES", 5)
    n0, n1, n2 = nats_cluster
    client_id = f"ingest-{uuid.uuid4().hex[:6]}"
    first, letters = nats_consumer(database_url, service, n0, client_id)
    scanner = Scanner([n2])
    try:
        assert first.start().connected.wait(30)
        time.sleep(1)
        scanner.round(tns, 0)
        eventually(lambda: recorded(service, tns) == len(tns), timeout=60)
        first.stop()
        n0.kill()  # the consumer's node is gone
        scanner.round(tns, 1)  # queued in its session
        second, more = nats_consumer(database_url, service, n1, client_id)
        second.start()
        eventually(lambda: recorded(service, tns) == 2 * len(tns), timeout=60,
                   what="the session's queue delivered on another node")
        second.stop()
        more.close()
    finally:
        scanner.close()
        letters.close()
    assert_each_once(service, tns, 2)


def test_nats_grants_a_shared_subscription_and_delivers_it_nothing(
    database_url: str, service: ShipmentService, nats_cluster: list[Node],
) -> None:
    """NATS 2.9's MQTT has no shared subscriptions: $share/g/... is granted
    as an ordinary filter that no scan topic matches. On NATS, consumers
    must not take TRACKING_MQTT_GROUP (docs/scaling.md)."""
    tns = booked(service, "NSHR", 2)
    n0, n1, _ = nats_cluster
    consumer, letters = nats_consumer(database_url, service, n0, f"ingest-{uuid.uuid4().hex[:6]}",
                                      group="g")
    scanner = Scanner([n1])
    try:
        assert consumer.start().connected.wait(30)
        time.sleep(1)
        scanner.round(tns, 0)
        time.sleep(3)
        assert consumer.fault is None  # granted: nothing says it is wrong
        assert len(scanner.acked) == len(tns) and recorded(service, tns) == 0
    finally:
        scanner.close()
        consumer.stop()
        letters.close()


@pytest.fixture
def nats_node(tmp_path: Path) -> Iterator[Node]:
    """One NATS server with JetStream and an MQTT listener (``ack_wait`` 2 s:
    a message delivered and not acknowledged is delivered again that soon)."""
    if NATS is None:
        if IN_CI:
            pytest.fail("nats-server is not installed")
        pytest.skip("nats-server is not installed")
    node = Node("single", tmp_path / "single.conf", free_port())
    node.config.write_text(
        f"server_name: single\nlisten: 127.0.0.1:{free_port()}\n"
        f"jetstream {{ store_dir: {tmp_path}/js }}\n"
        f"mqtt {{ listen: 127.0.0.1:{node.mqtt_port}, ack_wait: \"2s\" }}\n")
    node.start(tmp_path / "single.log")
    try:
        eventually(lambda: listening(node.mqtt_port), timeout=30, what="NATS listens")
        eventually(lambda: accepts_sessions(node.mqtt_port), timeout=60,
                   what="NATS accepts MQTT sessions")
        yield node
    finally:
        node.kill()


def test_tracking_ingest_speaks_mqtt_3_1_1_to_nats_and_a_sigkill_loses_nothing_it_took(
    database_url: str, service: ShipmentService, nats_node: Node,
) -> None:
    """TRACKING_MQTT_PROTOCOL=3.1.1: a real `tracking ingest` consumes from
    NATS with a persistent session; SIGKILLed mid-stream and started again
    with its client id, every scan NATS acknowledged to the scanner is
    recorded exactly once (what the killed one had received but not recorded
    was not acknowledged, so NATS delivers it again)."""
    from tests.faults.conftest import Process

    tns = booked(service, "NING")
    settings = Settings(database_url=database_url, mqtt_url=f"mqtt://127.0.0.1:{nats_node.mqtt_port}",
                        mqtt_client_id=f"ingest-{uuid.uuid4().hex[:6]}")
    first = Process(settings, "ingest", TRACKING_MQTT_PROTOCOL="3.1.1", TRACKING_LOG_LEVEL="INFO")
    again = Process(settings, "ingest", TRACKING_MQTT_PROTOCOL="3.1.1", TRACKING_LOG_LEVEL="INFO")
    scanner = Scanner([nats_node])
    rounds = 15
    try:
        first.start()
        eventually(lambda: "connected to the broker" in first.log.read_text(errors="replace"),
                   timeout=60, what=f"tracking ingest connects\n{first.tail()}")
        time.sleep(1)  # subscribed
        scanner.round(tns, 0)
        eventually(lambda: recorded(service, tns) == len(tns), timeout=60,
                   what=f"the first round recorded\n{first.tail()}")

        def kill_mid_stream() -> None:
            eventually(lambda: recorded(service, tns) >= rounds * len(tns) // 3, timeout=120)
            first.kill()
            again.start()

        killer = threading.Thread(target=kill_mid_stream)
        killer.start()
        for k in range(1, rounds):
            scanner.round(tns, k)
        killer.join(120)
        assert first.kills == 1
        eventually(lambda: recorded(service, tns) == rounds * len(tns), timeout=120,
                   what=f"every acknowledged scan recorded\n{again.tail()}")
        time.sleep(3)  # past ack_wait: nothing delivered again is recorded twice
    finally:
        scanner.close()
        for p in (first, again):
            if p.alive():
                p.stop()
    assert len(scanner.acked) == rounds * len(tns)
    assert_each_once(service, tns, rounds)
