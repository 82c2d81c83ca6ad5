"""Scanner ingestion against the real Mosquitto (TRACKING_TEST_MQTT_URL,
default mqtt://127.0.0.1:1883). Each test uses its own client ids (and its
own group where it shares a subscription), and forgets their sessions
afterwards (tests/mqtt_sessions.py): the broker is shared."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from adapters import health
from adapters.composition import build_consumer, build_dead_letters
from adapters.deadletters import DeadLetterStore
from adapters.mqtt.consumer import BrokerAddress, ScanConsumer
from adapters.settings import Settings
from tests.builders import AGENT, HK_STO, booking
from tests import mqtt_sessions
from tests.conftest import IN_CI
from tests.ports import free_port
from tests.waiting import eventually
from tracking.application import ShipmentService

MQTT_URL = mqtt_sessions.SHARED_URL


@pytest.fixture(scope="session")
def broker() -> BrokerAddress:
    address = BrokerAddress(*Settings(mqtt_url=MQTT_URL).broker_address())
    try:
        socket.create_connection((address.host, address.port), timeout=3).close()
    except OSError as e:
        message = f"MQTT broker at {MQTT_URL} is not reachable: {e}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return address


@pytest.fixture
def settings(database_url: str) -> Iterator[Settings]:
    """This test's settings: a client id of its own (and of its own ids
    derived from it), whose sessions are forgotten once the test is done."""
    mine = Settings(database_url=database_url, mqtt_url=MQTT_URL,
                    mqtt_client_id=f"test-{uuid.uuid4().hex[:10]}")
    yield mine
    used = sorted(c for c in mqtt_sessions.OPENED if c.startswith(mine.mqtt_client_id))
    if used:
        mqtt_sessions.forget(mqtt_sessions.SHARED, *used)


@pytest.fixture
def dead_letters(settings: Settings) -> Iterator[DeadLetterStore]:
    store = build_dead_letters(settings)
    yield store
    store.close()


@pytest.fixture
def consumer(settings: Settings, service: ShipmentService, dead_letters: DeadLetterStore,
             broker: BrokerAddress) -> Iterator[ScanConsumer]:
    c = build_consumer(settings, service, dead_letters, broker=broker, session_expiry=60)
    c.start()
    assert c.connected.wait(10)
    time.sleep(0.2)  # the subscription reaches the broker
    yield c
    c.stop()


class Publisher:
    def __init__(self, broker: BrokerAddress) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, payload: bytes | dict[str, Any], topic: str = "scanners/hkg/dock-7/scans") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, body, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def publisher(broker: BrokerAddress) -> Iterator[Publisher]:
    p = Publisher(broker)
    yield p
    p.close()


def scan_json(tn: str, event: str = "RECEIVED", **extra: Any) -> dict[str, Any]:
    return {"scan_id": uuid.uuid4().hex, "device_id": "dock-7", "tracking_number": tn,
            "event": event, "location": "HKHKG", "occurred_at": "2009-03-02T10:00:00+08:00",
            **extra}




TN = "LX123456785CN"


def test_published_scans_are_recorded_once_and_visible(
    service: ShipmentService, consumer: ScanConsumer, publisher: Publisher
) -> None:
    service.book(TN, booking(), HK_STO, AGENT)
    scan = scan_json(TN)
    publisher.publish(scan)
    publisher.publish(scan)  # published twice: recorded once
    publisher.publish(scan_json(TN, "LOADED", voyage="V100", occurred_at="2009-03-03T08:00:00+08:00"))
    eventually(lambda: len(service.get(TN).scans) == 2)
    eventually(lambda: consumer.metrics.value("tracking_scans_total", result="duplicate", ingress="mqtt") == 1)
    assert service.delivery(TN).current_voyage == "V100"
    assert service.history(TN)[2].source.id == "dock-7"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("payload", "topic", "reason", "field"),
    [
        (b"{not json", None, "not valid JSON", "body"),
        (b"x" * 70_000, None, "over 65536", "body"),
        ({"event": "LOADDED"}, None, "'LOADDED' is not one of", "event"),
        ({"location": "ZZZZZ"}, None, "not an ISO 3166-1", "location"),
        ({"scan_id": None}, None, "missing required field `scan_id`", "scan_id"),
        ({"device_id": "dock-9"}, None, "not the topic's device", "device_id"),
        ({}, "scanners/hkg/dock-7/other", "is not scanners/", None),
        ({"occurred_at": "2099-01-01T00:00:00Z"}, None, "scanner's clock", "occurred_at"),
    ],
)
def test_what_cannot_be_a_scan_is_kept_as_a_dead_letter_with_its_reason(
    consumer: ScanConsumer, publisher: Publisher, dead_letters: DeadLetterStore,
    payload: Any, topic: str | None, reason: str, field: str | None,
) -> None:
    if isinstance(payload, dict):
        body = {k: v for k, v in {**scan_json(TN), **payload}.items() if v is not None}
        raw = json.dumps(body).encode()
    else:
        raw = payload
    if topic:  # the consumer never subscribes to such a topic; make it receive one
        consumer.client.subscribe(topic, qos=1)
        time.sleep(0.3)
    publisher.publish(raw, topic or "scanners/hkg/dock-7/scans")
    eventually(lambda: dead_letters.count() == 1)
    [letter] = dead_letters.list(pending_only=True, limit=10, offset=0)
    assert reason in letter.reason and letter.field == field
    assert letter.payload == raw and letter.topic == (topic or "scanners/hkg/dock-7/scans")
    publisher.publish(raw, topic or "scanners/hkg/dock-7/scans")  # again: stored once
    time.sleep(0.3)
    assert dead_letters.count() == 1


def test_a_scan_from_an_unregistered_device_is_a_dead_letter(
    settings: Settings, service: ShipmentService, dead_letters: DeadLetterStore,
    broker: BrokerAddress, publisher: Publisher,
) -> None:
    c = build_consumer(settings, service, dead_letters, broker=broker, session_expiry=60,
                       devices=frozenset({"dock-1"})).start()
    try:
        assert c.connected.wait(10)
        time.sleep(0.2)
        publisher.publish(scan_json(TN))  # from dock-7
        eventually(lambda: dead_letters.count() == 1)
    finally:
        c.stop()
    [letter] = dead_letters.list(pending_only=True, limit=10, offset=0)
    assert letter.field == "device_id" and "'dock-7' is not registered" in letter.reason


def test_while_the_database_is_down_nothing_is_acknowledged_or_lost(
    service: ShipmentService, consumer: ScanConsumer, publisher: Publisher,
) -> None:
    from eventsourcing.persistence import OperationalError

    service.book(TN, booking(), HK_STO, AGENT)
    real = service.record_scans
    failures = {"left": 3}

    def flaky(scans: Any, source: Any = None) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("connection refused (the test's outage)")
        return real(scans, source)

    service.record_scans = flaky  # type: ignore[method-assign]
    sent = [scan_json(TN, scan_id=f"down-{k}") for k in range(5)]
    for s in sent:
        publisher.publish(s)
    eventually(lambda: len(service.get(TN).scans) == 5, timeout=30)
    assert failures["left"] == 0
    # the count is updated just after the batch is acknowledged, a moment after the scans are readable
    eventually(lambda: consumer.metrics.value("tracking_scans_total", result="recorded", ingress="mqtt") == 5)


def test_two_consumers_sharing_a_subscription_record_everything_once(
    settings: Settings, service: ShipmentService, make_service: Callable[[], ShipmentService],
    dead_letters: DeadLetterStore, broker: BrokerAddress, publisher: Publisher,
) -> None:
    tns = [f"SHARE{i:06d}" for i in range(20)]
    group = f"g{uuid.uuid4().hex[:10]}"
    for tn in tns:
        service.book(tn, booking(), HK_STO, AGENT)
    consumers = []
    for n in range(2):
        mine = Settings(database_url=settings.database_url, mqtt_url=MQTT_URL,
                        mqtt_client_id=f"{settings.mqtt_client_id}-{n}", mqtt_group=group)
        c = build_consumer(mine, make_service(), dead_letters, broker=broker, session_expiry=60,
                           batch_size=10, batch_ms=5)
        consumers.append(c.start())
    try:
        for c in consumers:
            assert c.connected.wait(10)
        time.sleep(0.3)
        sent = [scan_json(tn, scan_id=f"{tn}-{k}") for k in range(10) for tn in tns]
        for s in sent:
            publisher.publish(s)
        eventually(lambda: sum(len(service.get(tn).scans) for tn in tns) == len(sent), timeout=30)
        shares = [c.metrics.observed("tracking_ingest_batch_size")[1] for c in consumers]
        assert all(n > 0 for n in shares) and sum(shares) == len(sent)
    finally:
        for c in consumers:
            c.stop()
    for tn in tns:
        versions = [e.originator_version for e in service.history(tn)]
        assert versions == list(range(1, 13))  # opened, booked, ten scans: none twice


class IngestProcess:
    """``tracking <command>`` as a subprocess consuming as this test's client
    id, and 50 booked shipments to send it scans for."""

    def __init__(self, settings: Settings, service: ShipmentService, prefix: str,
                 command: str = "ingest") -> None:
        self.service, self.command = service, command
        self.tns = [f"{prefix}{i:06d}" for i in range(50)]
        for tn in self.tns:
            service.book(tn, booking(), HK_STO, AGENT)
        self.env = {**os.environ, "TRACKING_DATABASE_URL": settings.database_url,
                    "TRACKING_MQTT_URL": MQTT_URL, "TRACKING_MQTT_CLIENT_ID": settings.mqtt_client_id,
                    "TRACKING_LOG_FORMAT": "json", "TRACKING_HTTP_PORT": str(free_port())}
        mqtt_sessions.OPENED.add(settings.mqtt_client_id)  # a week's session, forgotten after
        self.process: subprocess.Popen[bytes] | None = None

    def scans(self, each: int) -> list[dict[str, Any]]:
        return [scan_json(tn, scan_id=f"{tn}-{k}") for k in range(each) for tn in self.tns]

    def start(self, log: Any = os.devnull) -> subprocess.Popen[bytes]:
        with open(log, "wb") as stderr:
            self.process = subprocess.Popen([sys.executable, "-m", "adapters.cli", self.command],
                                            env=self.env, stdout=subprocess.DEVNULL, stderr=stderr)
        return self.process

    def recorded(self) -> int:
        return sum(len(s.scans) for s in (self.service.get(tn) for tn in self.tns))

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def assert_every_scan_recorded_once(self, each: int) -> None:
        for tn in self.tns:  # opened, booked, then each scan once
            assert [e.originator_version for e in self.service.history(tn)] == list(range(1, 3 + each))


def test_a_consumer_killed_mid_stream_and_restarted_records_every_scan_once(
    settings: Settings, service: ShipmentService, broker: BrokerAddress, publisher: Publisher,
    tmp_path: Any,
) -> None:
    run = IngestProcess(settings, service, "KILL")
    log = tmp_path / "first.log"
    process = run.start(log)
    try:
        # Connected and subscribed: its session now exists on the broker (what
        # is published before that reaches no one, on a loaded machine too).
        eventually(lambda: "connected to the broker" in log.read_text(), timeout=30,
                   what="the consumer is connected")
        time.sleep(0.3)
        sent = run.scans(20)
        for s in sent[:500]:
            publisher.publish(s)
        eventually(lambda: run.recorded() > 0)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        for s in sent[500:]:
            publisher.publish(s)  # queued in its session while it is down
        process = run.start()
        eventually(lambda: run.recorded() == len(sent), timeout=60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        run.kill()
    run.assert_every_scan_recorded_once(20)


@pytest.mark.parametrize("command", ["ingest", "all"])
def test_sigterm_mid_stream_exits_0_having_recorded_what_it_acknowledged(
    settings: Settings, service: ShipmentService, broker: BrokerAddress, publisher: Publisher,
    tmp_path: Any, command: str,
) -> None:
    """Graceful shutdown: the process finishes and acknowledges the batch in
    hand, leaves the rest unacknowledged in its session, and exits 0; the
    next process with its client id records the rest: every scan once."""
    run = IngestProcess(settings, service, "TERM", command)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]

    def lines(log: Any) -> list[dict[str, Any]]:
        return [json.loads(x) for x in open(log).read().splitlines()]

    process = run.start(logs[0])
    try:
        eventually(lambda: any("connected to the broker" in x["msg"] for x in lines(logs[0])),
                   what="the consumer is connected and subscribed")
        time.sleep(0.3)
        # At most ~800 queued while it is away: under Mosquitto's default
        # max_queued_messages (1000), beyond which the broker itself drops.
        sent = run.scans(20)

        def feed() -> None:
            for s in sent:
                publisher.publish(s)  # each PUBACKed by the broker before the next
                time.sleep(0.001)

        feeding = threading.Thread(target=feed)
        feeding.start()
        eventually(lambda: run.recorded() >= 200)
        process.send_signal(signal.SIGTERM)  # mid-stream: scans keep arriving
        assert process.wait(30) == 0
        at_exit = run.recorded()
        batches = [x for x in lines(logs[0]) if "size" in x]
        assert sum(b["recorded"] for b in batches) == at_exit  # no batch left half done
        feeding.join(60)  # the rest is queued in its session while it is away
        assert at_exit < len(sent)
        process = run.start(logs[1])
        eventually(lambda: run.recorded() == len(sent), timeout=60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        run.kill()
    run.assert_every_scan_recorded_once(20)


@pytest.fixture
def private_broker(tmp_path: Any) -> Iterator[Callable[[], None]]:
    """A Mosquitto of this test's own (persistent, on a free port), and a
    function that restarts it; yields after it listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {tmp_path}/\nautosave_interval 1\n"
        # As root it would drop to the mosquitto user, who cannot write its
        # persistence here: sessions and queues would not survive a restart.
        "user root\n"
    )

    def launch() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        eventually(listening, timeout=10, what="the private mosquitto listens")
        return process

    state = {"process": launch()}

    def restart() -> None:
        state["process"].send_signal(signal.SIGTERM)  # saves its sessions and queues
        state["process"].wait(10)
        time.sleep(0.5)
        state["process"] = launch()

    restart.port = port  # type: ignore[attr-defined]
    yield restart
    state["process"].kill()
    state["process"].wait(10)


def test_a_broker_restart_mid_stream_loses_and_doubles_nothing(
    settings: Settings, service: ShipmentService, dead_letters: DeadLetterStore,
    private_broker: Callable[[], None],
) -> None:
    """Every scan published is delivered and recorded exactly once across
    the broker's restart, its persistence written where it can write it."""
    port = private_broker.port  # type: ignore[attr-defined]
    tns = [f"BRK{i:06d}" for i in range(20)]
    for tn in tns:
        service.book(tn, booking(), HK_STO, AGENT)
    consumer = build_consumer(settings, service, dead_letters, session_expiry=300, group=None,
                              broker=BrokerAddress("127.0.0.1", port), batch_size=20)
    delivered: set[str] = set()
    on_message = consumer.client.on_message

    def seen(client: Any, userdata: Any, message: Any) -> None:
        delivered.add(json.loads(message.payload)["scan_id"])
        on_message(client, userdata, message)  # type: ignore[misc]

    consumer.client.on_message = seen
    consumer.start()
    assert consumer.connected.wait(10)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}",
                            protocol=mqtt.MQTTv5)
    publisher.reconnect_delay_set(min_delay=1, max_delay=2)
    publisher.connect("127.0.0.1", port, clean_start=False)
    publisher.loop_start()
    sent = [scan_json(tn, scan_id=f"{tn}-{k}") for k in range(30) for tn in tns]
    restart_at = len(sent) // 2
    try:
        infos = []

        def publish(payload: str) -> mqtt.MQTTMessageInfo:
            # As a scanner does: while the broker is away, try again.
            while (info := publisher.publish("scanners/hkg/dock-7/scans", payload, qos=1)).rc:
                time.sleep(0.05)
            return info

        for i, s in enumerate(sent):
            if i == restart_at:
                private_broker()  # mid-stream
            infos.append(publish(json.dumps(s)))
            time.sleep(0.002)
        eventually(lambda: all(info.is_published() for info in infos), timeout=60,
                   what="a PUBACK for every scan published")
        time.sleep(3)  # whatever the broker still has comes through

        def recorded() -> set[str]:
            return {s.scan_id for tn in tns for s in service.get(tn).scans}

        eventually(lambda: recorded() >= delivered, timeout=30)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        consumer.stop()
    assert recorded() == delivered
    # The broker keeps what it acknowledged across its restart: nothing lost.
    assert {s["scan_id"] for s in sent} == delivered
    for tn in tns:
        versions = [e.originator_version for e in service.history(tn)]
        assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 2 + 29


def test_simulated_traffic_is_recorded_once_and_the_malformed_dead_lettered(
    settings: Settings, service: ShipmentService, consumer: ScanConsumer,
    dead_letters: DeadLetterStore,
) -> None:
    from adapters.mqtt.simulate import simulate

    report = simulate(settings, shipments=15, rate=0, duplicates=0.1, malformed=0.05,
                      misroutes=0.2, seed=7)
    assert report.acked == report.published and report.refused == 0
    assert report.duplicates > 0 and report.malformed > 0
    eventually(lambda: consumer.metrics.value("tracking_scans_total", result="recorded",
                                              ingress="mqtt") >= report.valid, timeout=30)
    eventually(lambda: dead_letters.count() >= report.malformed, timeout=10)
    time.sleep(0.5)
    assert consumer.metrics.value("tracking_scans_total", result="recorded", ingress="mqtt") == report.valid
    assert dead_letters.count() == report.malformed


def _went_away(settings: Settings, service: ShipmentService, dead_letters: DeadLetterStore,
               broker: BrokerAddress, client_id: str) -> ScanConsumer:
    """A consumer that subscribed once with a persistent session, and left."""
    gone = build_consumer(replace(settings, mqtt_client_id=client_id), service, dead_letters,
                          broker=broker, session_expiry=60).start()
    assert gone.connected.wait(10)
    time.sleep(0.3)
    gone.stop()
    return gone


def test_by_default_a_consumer_that_went_away_leaves_every_scan_to_the_one_running(
    settings: Settings, service: ShipmentService, dead_letters: DeadLetterStore,
    broker: BrokerAddress, publisher: Publisher, caplog: pytest.LogCaptureFixture,
) -> None:
    """No TRACKING_MQTT_GROUP by default: one plain subscription per
    consumer, so a session left behind strands nothing."""
    tns = [f"LEFT{i:06d}" for i in range(4)]
    for tn in tns:
        service.book(tn, booking(), HK_STO, AGENT)
    assert Settings.from_env({}).mqtt_group == "" and settings.mqtt_group == ""
    _went_away(settings, service, dead_letters, broker, f"{settings.mqtt_client_id}-gone")
    with caplog.at_level(logging.WARNING, logger="adapters.mqtt.consumer"):
        running = build_consumer(settings, service, dead_letters, broker=broker,
                                 session_expiry=60).start()
    try:
        assert running.connected.wait(10) and running.topic == "scanners/+/+/scans"
        assert not [r for r in caplog.records if "TRACKING_MQTT_GROUP" in r.getMessage()]
        time.sleep(0.3)
        sent = [scan_json(tn, scan_id=f"{tn}-{k}") for k in range(10) for tn in tns]
        for s in sent:
            publisher.publish(s)
        eventually(lambda: sum(len(service.get(tn).scans) for tn in tns) == len(sent))
        # The running one recorded them (and whatever other runs publish on the shared
        # broker meanwhile); it counts a batch just after its commit, so wait for that too.
        eventually(lambda: health.consuming(running)["recorded"] >= len(sent),
                   what="the running consumer counted every scan")
    finally:
        running.stop()


def test_in_a_group_a_member_that_went_away_keeps_its_share_and_the_start_says_so(
    settings: Settings, service: ShipmentService, make_service: Callable[[], ShipmentService],
    dead_letters: DeadLetterStore, broker: BrokerAddress, publisher: Publisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What a group costs on Mosquitto: the share of a member that went away
    waits in its session, unrecorded, until it comes back."""
    tns = [f"GONE{i:06d}" for i in range(4)]
    for tn in tns:
        service.book(tn, booking(), HK_STO, AGENT)
    grouped = replace(settings, mqtt_group=f"g{uuid.uuid4().hex[:10]}")
    gone_id = f"{settings.mqtt_client_id}-gone"
    _went_away(grouped, service, dead_letters, broker, gone_id)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="adapters.mqtt.consumer"):
        running = build_consumer(grouped, service, dead_letters, broker=broker,
                                 session_expiry=60).start()
    back: ScanConsumer | None = None
    try:
        assert running.connected.wait(10)
        [warning] = [r.getMessage() for r in caplog.records if "TRACKING_MQTT_GROUP" in r.getMessage()]
        assert f"$share/{grouped.mqtt_group}/" in warning and "went away" in warning
        time.sleep(0.3)
        sent = [scan_json(tn, scan_id=f"{tn}-{k}") for k in range(10) for tn in tns]
        for s in sent:
            publisher.publish(s)  # each PUBACKed: the broker has it
        eventually(lambda: sum(len(service.get(tn).scans) for tn in tns) > 0)
        back = build_consumer(replace(grouped, mqtt_client_id=gone_id), make_service(),
                              dead_letters, broker=broker, session_expiry=60)
        held: set[str] = set()  # what the member that went away was keeping of this test's scans
        on_message = back.client.on_message

        def kept(client: Any, userdata: Any, message: Any) -> None:
            scan_id = str(json.loads(message.payload).get("scan_id")) if message.payload[:1] == b"{" else ""
            if scan_id.startswith("GONE"):
                held.add(scan_id)
            on_message(client, userdata, message)  # type: ignore[misc]

        back.client.on_message = kept
        back.start()
        eventually(lambda: sum(len(service.get(tn).scans) for tn in tns) == len(sent))
        assert 0 < len(held) < len(sent)  # its share waited, unrecorded, until it came back
    finally:
        running.stop()
        if back is not None:
            back.stop()
