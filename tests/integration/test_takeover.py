"""Two consumers with one client id: the one thrown off says so and stops,
instead of both taking the session from each other every second, forever.
On the real (shared) broker; a scripted peer stands in only for the MQTT 5
DISCONNECT 142 that this machine's Mosquitto (2.0.11) does not send."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.composition import build_consumer, build_dead_letters
from adapters.deadletters import DeadLetterStore
from adapters.health import Readiness
from adapters.mqtt.consumer import BrokerAddress, ScanConsumer
from adapters.settings import Settings
from tests import mqtt_sessions
from tests.builders import AGENT, HK_STO, booking
from tests.integration.test_mqtt import Publisher, scan_json
from tests.waiting import eventually
from tracking.application import ShipmentService

# A number of this module's own: other runs on the shared broker publish
# scans for the usual LX123456785CN, and this test's consumers get them too.
TN = f"TKO{uuid.uuid4().hex[:12].upper()}"


@pytest.fixture
def shared() -> BrokerAddress:
    if not mqtt_sessions.reachable(mqtt_sessions.SHARED):
        pytest.skip(f"no MQTT broker at {mqtt_sessions.SHARED_URL}")
    return mqtt_sessions.SHARED


@pytest.fixture
def settings(database_url: str, shared: BrokerAddress) -> Iterator[Settings]:
    mine = Settings(database_url=database_url, mqtt_url=mqtt_sessions.SHARED_URL,
                    mqtt_client_id=f"test-{uuid.uuid4().hex[:10]}")
    yield mine
    mqtt_sessions.forget(shared, mine.mqtt_client_id)


@pytest.fixture
def dead_letters(settings: Settings) -> Iterator[DeadLetterStore]:
    store = build_dead_letters(settings)
    yield store
    store.close()


def test_two_consumers_with_one_client_id_stop_fighting_and_the_one_thrown_off_says_why(
    settings: Settings, service: ShipmentService, dead_letters: DeadLetterStore,
    shared: BrokerAddress, caplog: pytest.LogCaptureFixture,
) -> None:
    service.book(TN, booking(), HK_STO, AGENT)
    first = build_consumer(settings, service, dead_letters, session_expiry=60).start()
    second: ScanConsumer | None = None
    publisher = Publisher(shared)
    try:
        assert first.connected.wait(10)
        time.sleep(0.5)  # its marker is written
        with caplog.at_level(logging.WARNING, logger="adapters.mqtt.consumer"):
            second = build_consumer(settings, service, dead_letters, session_expiry=60).start()
            eventually(lambda: first.fault is not None, timeout=15,
                       what="the first consumer finds its session taken over")
            eventually(lambda: second.connected.is_set(), timeout=10)
            time.sleep(3)  # were they still fighting, the second would be thrown off by now
        assert second.fault is None and second.connected.is_set()
        assert not first.connected.is_set()  # it stopped reconnecting
        assert "session taken over" in first.fault and settings.mqtt_client_id in first.fault
        assert "TRACKING_MQTT_CLIENT_ID" in first.fault
        errors = [r for r in caplog.records if r.levelno == logging.ERROR
                  and r.name == "adapters.mqtt.consumer"]
        assert len(errors) == 1 and settings.mqtt_client_id in errors[0].getMessage()
        assert "TRACKING_MQTT_CLIENT_ID" in errors[0].getMessage()
        ready, body = Readiness(service, None, None, first).check()
        assert not ready and "session taken over" in body["failed"]["broker"]
        assert Readiness(service, None, None, second).check()[0]
        publisher.publish(scan_json(TN))  # the one that goes on records what comes
        eventually(lambda: len(service.get(TN).scans) == 1)
    finally:
        publisher.close()
        first.stop()
        if second is not None:
            second.stop()


class ScriptedBroker:
    """A scripted MQTT 5 peer: accepts a connection, answers CONNECT, and
    SUBSCRIBE with ``suback``; then sends DISCONNECT with ``disconnect`` if
    given (142: what Mosquitto 2.0.15 and later send to the client they
    throw off). Counts connections."""

    def __init__(self, suback: int = 0, disconnect: int | None = None) -> None:
        self.suback, self.disconnect = suback, disconnect
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    @staticmethod
    def _packet(conn: socket.socket) -> tuple[int, bytes]:
        header = conn.recv(1)
        if not header:
            raise ConnectionError
        length, shift = 0, 0
        while True:
            byte = conn.recv(1)[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        body = b""
        while len(body) < length:
            body += conn.recv(length - len(body))
        return header[0] >> 4, body

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            try:
                kind, _ = self._packet(conn)
                assert kind == 1  # CONNECT
                conn.sendall(bytes([0x20, 3, 0, 0, 0]))  # CONNACK: no session, success, no properties
                subscribed = 0
                while subscribed < 2:  # the scans, and the consumer's marker
                    kind, body = self._packet(conn)
                    if kind == 8:  # SUBSCRIBE: SUBACK, no properties
                        conn.sendall(bytes([0x90, 4]) + body[:2] + bytes([0, self.suback]))
                        subscribed += 1
                time.sleep(0.2)
                if self.disconnect is not None:
                    conn.sendall(bytes([0xE0, 2, self.disconnect, 0]))  # DISCONNECT, its reason
                time.sleep(5)
            except (ConnectionError, OSError, IndexError):
                pass

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def consumer_of(tmp_path: Any) -> Iterator[Any]:
    """A consumer (not started) of a scripted broker, with the default client id."""
    from adapters.composition import build_service

    made: list[tuple[Any, ...]] = []

    def make(peer: ScriptedBroker) -> ScanConsumer:
        settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db",
                            mqtt_url=f"mqtt://127.0.0.1:{peer.port}")
        service, letters = build_service(settings), build_dead_letters(settings)
        consumer = build_consumer(settings, service, letters, session_expiry=60)
        made.append((consumer, peer, letters, service))
        return consumer

    yield make
    for consumer, peer, letters, service in made:
        consumer.stop()
        peer.close()
        letters.close()
        service.close()


def test_a_broker_saying_session_taken_over_stops_the_consumer(
    consumer_of: Any, caplog: pytest.LogCaptureFixture
) -> None:
    peer = ScriptedBroker(disconnect=142)
    consumer = consumer_of(peer)
    with caplog.at_level(logging.WARNING, logger="adapters.mqtt.consumer"):
        consumer.start()
        eventually(lambda: consumer.fault is not None, timeout=10,
                   what="the consumer hears the session was taken over")
        time.sleep(2.5)  # paho reconnects after 1 s: it must not
    assert peer.connections == 1
    assert "the broker says the session was taken over" in consumer.fault
    assert "'tracking-ingest'" in consumer.fault and "TRACKING_MQTT_CLIENT_ID" in consumer.fault
    mine = [r.levelname for r in caplog.records if r.name == "adapters.mqtt.consumer"]
    assert mine == ["ERROR"]  # and no "reconnecting" warning
    assert set(Readiness(consumer.service, None, None, consumer).check()[1]["failed"]) == {"broker"}


def test_a_refused_subscription_is_an_error_and_makes_the_consumer_not_ready(
    consumer_of: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A broker that answers the subscription to the scans "not authorised"
    (0x87): connected, and yet no scan would ever come."""
    consumer = consumer_of(ScriptedBroker(suback=0x87))
    with caplog.at_level(logging.WARNING, logger="adapters.mqtt.consumer"):
        consumer.start()
        eventually(lambda: consumer.fault is not None, timeout=10)
    assert "refused the subscription to scanners/+/+/scans: Not authorized" in consumer.fault
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "tracking-ingest" in error
    ready, body = Readiness(consumer.service, None, None, consumer).check()
    assert not ready and "refused the subscription" in body["failed"]["broker"]
