"""Scanner ingestion over MQTT: at least once in, exactly once recorded.

paho-mqtt 2 with manual acknowledgements: the network thread only puts
messages on a queue; a worker takes up to ``batch_size`` messages or waits
``batch_ms``, records the valid scans in one transaction, stores what cannot
be a scan as dead letters, and only then acknowledges every message of the
batch. A crash before the acknowledgement means redelivery, which is
harmless: ``scan_id`` is the idempotency key and dead letters are keyed by
their bytes. While the database is down nothing is acknowledged; the worker
retries the batch with backoff. A stable client id and a persistent session
(MQTT 5 session expiry, or clean_session=False on 3.1.1) keep what is
published while the consumer is away; ``receive maximum`` bounds what the
broker sends before we acknowledge. Another consumer with the same client id
would take that session over at each reconnect, each kicking the other off
forever: once that is seen (``takeover``), this one stops and says so.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from adapters import ingress, wire
from adapters.deadletters import DeadLetter, DeadLetterStore
from adapters.metrics import Metrics
from adapters.mqtt.takeover import SESSION_TAKEN_OVER, SessionGuard
from tracking.application import ScanResult, ShipmentService
from tracking.errors import InvalidInput
from tracking.scan import Scan

log = logging.getLogger(__name__)

TOPIC_FILTER = "scanners/+/+/scans"
_TOPIC = re.compile(r"scanners/([^/]+)/([^/]+)/scans")
MAX_PAYLOAD = 64 * 1024
SESSION_EXPIRY = 7 * 24 * 3600  # keep queued scans a week while the consumer is away
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)


class NotAScan(Exception):
    """A message that cannot be a scan; ``reason`` says why, ``field`` what."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


def parse_scan(topic: str, payload: bytes, devices: frozenset[str] | None = None) -> Scan:
    """The scan a message published on ``topic`` carries (NotAScan if none):
    what the consumer does with each message, and ``tracking dead-letters
    resubmit`` with a stored one."""
    match = _TOPIC.fullmatch(topic)
    if match is None:
        raise NotAScan(f"topic {topic!r} is not scanners/{{site}}/{{device_id}}/scans")
    if len(payload) > MAX_PAYLOAD:
        raise NotAScan(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}", "body")
    try:
        sent = wire.decode(wire.SCAN, payload)
        device = match[2]
        if devices is not None and device not in devices:
            raise InvalidInput("device_id", f"device {device!r} is not registered")
        if sent.device_id is None:
            sent.device_id = device
        elif sent.device_id != device:
            raise InvalidInput("device_id", f"{sent.device_id!r} is not the topic's device {device!r}")
        return wire.to_scan(sent)
    except InvalidInput as e:
        raise NotAScan(e.message, e.field) from None
    except wire.NotJSON as e:
        raise NotAScan(str(e), "body") from None


def stored_scan(letter: DeadLetter, devices: frozenset[str] | None = None) -> Scan | str:
    """The scan a dead letter's stored message is now (the devices
    registered may have changed), or why it still is none."""
    try:
        return parse_scan(letter.topic, letter.payload, devices)
    except NotAScan as e:
        return f"{e.field}: {e.reason}" if e.field else e.reason


def _refused(letter: DeadLetter) -> ingress.Refused:
    return ingress.Refused(letter.id, "", InvalidInput(letter.field or "body", letter.reason))


class Received(NamedTuple):
    generation: int  # which connection delivered it: acks go back on that one only
    mid: int
    qos: int
    topic: str
    payload: bytes
    at: datetime


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None


class ScanConsumer:
    def __init__(
        self,
        service: ShipmentService,
        dead_letters: DeadLetterStore,
        broker: BrokerAddress,
        *,
        client_id: str = "tracking-ingest",
        group: str | None = None,
        mqtt5: bool = True,
        session_expiry: int = SESSION_EXPIRY,
        batch_size: int = 500,
        batch_ms: int = 20,
        metrics: Metrics | None = None,
        devices: frozenset[str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.service = service
        self.dead_letters = dead_letters
        self.broker = broker
        self.batch_size = batch_size
        self.batch_wait = batch_ms / 1000
        self.metrics = metrics or Metrics()
        self.metrics.counter("tracking_scans_total", "Scans received, by result and ingress")
        self.metrics.counter("tracking_scans_received_total", "Scan messages received, by ingress")
        try:  # registered once: the consumers of several slots share one Metrics
            self.metrics.observed("tracking_ingest_batch_size")
        except KeyError:
            self.metrics.histogram("tracking_ingest_batch_size", "Messages per recorded MQTT batch",
                                   BATCH_BUCKETS)
        self.clock = clock
        self.devices = devices
        self.mqtt5 = mqtt5
        self.session_expiry = session_expiry
        self.client_id, self.group = client_id, group or None
        self.topic = f"$share/{group}/{TOPIC_FILTER}" if group else TOPIC_FILTER
        self.guard = SessionGuard(client_id, mqtt5=mqtt5, expiry=session_expiry)
        self._taken: str | None = None  # another consumer has our session: we stopped
        self._refused: str | None = None  # the broker refused the subscription to the scans
        self._subscription: int | None = None
        self._queue: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self._generation = 0
        self._stop = threading.Event()
        self.connected = threading.Event()
        self._worker: threading.Thread | None = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
            clean_session=None if mqtt5 else False,
            manual_ack=True,
        )
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.message_callback_add(self.guard.topic, self._on_marker)  # never a scan
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = lambda _, __, mid, reason, ___: self.guard.on_publish(mid, reason)

    # -- network thread ------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _: Any, flags: Any, reason: Any, __: Any) -> None:
        if reason.is_failure:
            hint = (" (a broker with MQTT 3.1.1 only, as NATS: set TRACKING_MQTT_PROTOCOL=3.1.1)"
                    if self.mqtt5 and "protocol version" in str(reason).lower() else "")
            log.warning("broker refused the connection: %s%s", reason, hint)
            return
        self._generation += 1
        _, self._subscription = client.subscribe(self.topic, qos=1)
        self.guard.on_connect(client)
        self.connected.set()
        log.info("connected to the broker (session present: %s)", flags.session_present)

    @property
    def fault(self) -> str | None:
        """Why this consumer takes no scans though it may be connected: its
        session was taken over, or the broker refused its subscription."""
        return self._taken or self._refused

    def _on_subscribe(self, _: mqtt.Client, __: Any, mid: int, reasons: list[Any], ___: Any) -> None:
        if mid != self._subscription:
            return
        refused = [r for r in reasons if r.is_failure]
        if refused and self._refused is None:
            self._refused = f"the broker refused the subscription to {self.topic}: {refused[0]}"
            log.error("%s: no scan reaches this consumer (check the broker's ACL for client "
                      "id %s)", self._refused, self.client_id)
        elif not refused:
            self._refused = None  # granted on a later connection (the ACL changed)
            log.info("subscribed to %s", self.topic)

    def _on_disconnect(self, client: mqtt.Client, _: Any, __: Any, reason: Any, ___: Any) -> None:
        self.connected.clear()
        if self._stop.is_set() or self._taken is not None:
            return
        if reason == SESSION_TAKEN_OVER:
            self._taken_over(client, "the broker says the session was taken over")
        elif not self.guard.on_disconnect():  # else the guard said why
            log.warning("disconnected from the broker; reconnecting with backoff")

    def _taken_over(self, client: mqtt.Client, how: str) -> None:
        """Stop reconnecting: each reconnect would take the session back and
        throw the other consumer off, forever."""
        self._taken = (f"session taken over: another consumer connected with client id "
                       f"{self.client_id!r} ({how}); give each consumer its own "
                       "TRACKING_MQTT_CLIENT_ID")
        log.error("%s. This one stops consuming; the other goes on.", self._taken,
                  extra={"client_id": self.client_id})
        self.connected.clear()
        client.disconnect()

    def _on_marker(self, client: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        self.guard.on_message(client, message)
        if self.guard.taken_over is not None and self._taken is None:
            self._taken_over(client, f"its marker names {self.guard.taken_over}")

    def _on_message(self, _: mqtt.Client, __: Any, message: mqtt.MQTTMessage) -> None:
        self._queue.put(Received(self._generation, message.mid, message.qos, message.topic,
                                 message.payload, self.clock()))

    # -- worker ------------------------------------------------------------------

    def _take(self) -> list[Received]:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.batch_wait
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def parse(self, message: Received) -> Scan | DeadLetter:
        """A scan, or the dead letter saying why it cannot be one."""
        try:
            return parse_scan(message.topic, message.payload, self.devices)
        except NotAScan as e:
            return self._dead(message, e.reason, e.field)

    def handle(self, batch: list[Received]) -> None:
        """Record, dead-letter, then acknowledge: never the other way round."""
        started = time.perf_counter()
        parsed = [self.parse(m) for m in batch]
        scans = [p for p in parsed if isinstance(p, Scan)]
        letters = [p for p in parsed if isinstance(p, DeadLetter)]
        items = [p if isinstance(p, Scan) else _refused(p) for p in parsed]
        backoff = 0.1
        while True:
            try:
                answers = ingress.record_valid(self.service.record_scans, items)
                # Dead letters too, the scans the service rejected.
                refused = [
                    self._dead(m, o.reason or "refused", o.field)
                    for m, p, o in zip(batch, parsed, answers, strict=True)
                    if isinstance(p, Scan) and o.result is ScanResult.REJECTED
                ]
                outcomes = [o for p, o in zip(parsed, answers, strict=True) if isinstance(p, Scan)]
                if letters or refused:
                    self.dead_letters.add(letters + refused)
                break
            except Exception:  # noqa: BLE001 - the store is down: keep the batch, do not ack
                log.exception("could not record a batch of %d; retrying in %.1f s", len(batch), backoff)
                if self._stop.wait(backoff):
                    return  # stopping: unacknowledged, the broker redelivers
                backoff = min(backoff * 2, 5.0)
        generation = self._generation
        for m in batch:
            if m.generation == generation:
                self.client.ack(m.mid, m.qos)
            # else: delivered on an earlier connection; the broker sends it again
        results = Counter(o.result.value for o in outcomes)
        for result, count in results.items():
            self.metrics.inc("tracking_scans_total", count, result=result, ingress="mqtt")
        self.metrics.inc("tracking_scans_total", len(letters), result="dead_letter", ingress="mqtt")
        self.metrics.inc("tracking_scans_received_total", len(batch), ingress="mqtt")
        self.metrics.observe("tracking_ingest_batch_size", len(batch))
        self._log_batch(batch, scans, results, len(letters), started)

    @staticmethod
    def _log_batch(batch: list[Received], scans: list[Scan], results: Counter[str],
                   letters: int, started: float) -> None:
        devices = sorted({m.topic.split("/")[2] for m in batch if m.topic.count("/") == 3})
        numbers = {str(s.tracking_number) for s in scans}
        fields: dict[str, Any] = {
            "size": len(batch), "recorded": results[ScanResult.RECORDED.value],
            "duplicates": results[ScanResult.DUPLICATE.value],
            "dead_lettered": letters + results[ScanResult.REJECTED.value],
            "devices": len(devices), "device_ids": devices[:5],
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        }
        if len(numbers) == 1:
            fields["tracking_number"] = numbers.pop()
        log.info("recorded and acknowledged a batch of %d", len(batch), extra=fields)

    @staticmethod
    def _dead(message: Received, reason: str, field: str | None) -> DeadLetter:
        return DeadLetter(id=DeadLetter.make_id(message.topic, message.payload),
                          received_at=message.at, topic=message.topic,
                          payload=message.payload, reason=reason, field=field)

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._take()
            if batch:
                self.handle(batch)

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> ScanConsumer:
        if self.group is not None:
            log.warning(
                "TRACKING_MQTT_GROUP=%s: consuming through the shared subscription %s. What it "
                "costs on Mosquitto: every member that ever joined with a persistent session, "
                "running or not, is handed its share of each scan until its session expires "
                "(%d s), so a member that went away keeps its share unrecorded; and Mosquitto "
                "2.0 forgets shared subscriptions when it restarts. /readyz shows each member's "
                "messages (their sum should be what was published); with one consumer, leave "
                "TRACKING_MQTT_GROUP unset", self.group, self.topic, self.session_expiry)
        properties = None
        if self.mqtt5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.session_expiry
            properties.ReceiveMaximum = 2 * self.batch_size
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30,
                                  clean_start=False if self.mqtt5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                                  properties=properties)
        self.client.loop_start()
        self._worker = threading.Thread(target=self._run, name="mqtt-ingest", daemon=True)
        self._worker.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking work, finish (and acknowledge) the batch in hand, disconnect."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()
