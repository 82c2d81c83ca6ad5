"""Publishing at QoS 1 over MQTT (``Publisher``), paced to a rate
(``publish_paced``), counting what went out by kind (``Tally``)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from adapters.mqtt.traffic import Message


class Publisher:
    """A paho-mqtt 2 client publishing at QoS 1 with at most ``inflight``
    messages waiting for their PUBACK: ``send`` blocks beyond that."""

    def __init__(self, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, mqtt5: bool = True, inflight: int = 1000,
                 client_id: str | None = None) -> None:  # fmt: skip
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"simulate-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(inflight)
        self._slots = threading.BoundedSemaphore(inflight)
        self._lock = threading.Lock()
        self.sent = self.acked = self.refused = 0
        self.client.on_publish = self._on_publish
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def _on_publish(self, _: mqtt.Client, __: object, ___: int, reason: object, ____: object) -> None:
        with self._lock:
            self.acked += 1
            # MQTT 5 PUBACK codes from 0x80 are refusals; 0x10 "no matching subscribers" is not.
            if getattr(reason, "is_failure", False):
                self.refused += 1
        self._slots.release()

    def send(self, topic: str, payload: bytes) -> None:
        self._slots.acquire()
        self.sent += 1
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        # Not connected: paho keeps the message and sends it once reconnected.

    def drain(self, timeout: float) -> bool:
        """Wait until every message sent is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.acked < self.sent:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Tally(msgspec.Struct):
    """What a paced run published, by kind."""

    published: int = 0
    valid: int = 0
    duplicates: int = 0
    malformed: int = 0
    misrouted: int = 0
    scan_ids: list[str] = msgspec.field(default_factory=list)


def publish_paced(publisher: Publisher, messages: Iterator[Message], rate: float, *,
                  count: int | None = None, seconds: float | None = None,
                  tally: Tally | None = None) -> Tally:  # fmt: skip
    """Send ``messages`` at ``rate`` per second (0: as fast as the in-flight
    window allows), until they run out, ``count`` are sent or ``seconds``
    have passed. A message is taken from the iterator only when it is due."""
    tally = tally or Tally()
    started = time.perf_counter()
    sent = 0
    while count is None or sent < count:
        now = time.perf_counter()
        if seconds is not None and now - started >= seconds:
            break
        if rate > 0:
            ahead = started + sent / rate - now
            if ahead > 0.001:  # sleeps shorter than that overshoot
                time.sleep(ahead)
        message = next(messages, None)
        if message is None:
            break
        publisher.send(message.topic, message.payload)
        sent += 1
        tally.published += 1
        if message.kind == "duplicate":
            tally.duplicates += 1
        elif message.kind == "malformed":
            tally.malformed += 1
        else:
            tally.valid += 1
            tally.misrouted += message.kind == "misrouted"
            tally.scan_ids.append(message.scan_id)  # type: ignore[arg-type]
    return tally
