"""The embedded broker: amqtt, in this process, for the zero-configuration
default, so a newcomer can ``mosquitto_pub`` a scan and see it tracked.

When its port (1883 unless TRACKING_MQTT_EMBEDDED_PORT) is taken, as it is on
any machine that runs a Mosquitto, a ``mosquitto_pub`` with no ``-p`` goes to
that broker: starting ours elsewhere would leave such scans unread there. So
``plan()`` looks at what answers: an MQTT broker that lets us subscribe is
consumed from (a plain subscription of our own, which takes no other
subscriber's scans); only something else (a broker that refuses us, not
MQTT) makes the embedded broker start on a free port, and the log line says
the exact ``mosquitto_pub`` to use.

Why amqtt: it is pure Python (installs from PyPI on any machine, no broker
binary needed) and held up under our consumer's QoS 1 and manual acks. It
speaks MQTT 3.1.1 only, so the embedded consumer uses 3.1.1 with a
persistent session and no shared subscription; production runs Mosquitto
(docker-compose) and MQTT 5.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from adapters.mqtt.consumer import SESSION_EXPIRY, TOPIC_FILTER, BrokerAddress
from adapters.settings import Settings, _redact

log = logging.getLogger(__name__)


# A session on a broker that is not ours bridges a restart of `tracking all`,
# not a week of whatever else that broker carries.
BORROWED_SESSION_EXPIRY = 3600
PUBLISH_EXAMPLE = "mosquitto_pub -q 1 -t scanners/hkg/hkg-dock-7/scans -m '<scan JSON>'"


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883, *,
                 announce: str | None = None) -> None:
        self.host, self.port = host, port
        self.announce = announce  # logged once listening: why here, and how to publish
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="embedded-mqtt", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        from amqtt.broker import Broker

        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            # Anonymous clients on loopback, and none of the $SYS or packet-logging plugins.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self._stopping = asyncio.Event()
        try:
            broker = Broker(config, loop=self._loop)
            await broker.start()
        except BaseException as e:  # noqa: BLE001 - reported to start()
            self._error = e
            self._started.set()
            return
        self._started.set()
        await self._stopping.wait()
        await broker.shutdown()

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Start listening; raises OSError when the port cannot be had."""
        self._thread.start()
        self._started.wait(timeout)
        if self._error is not None:
            raise OSError(f"the embedded MQTT broker cannot listen on {self.host}:{self.port}: "
                          f"{self._error}") from self._error
        if self.announce:
            log.warning("%s", self.announce)
        else:
            log.info("embedded MQTT broker (MQTT 3.1.1) on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        if self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)


@dataclass(frozen=True)
class Found:
    """What answered on a port: ``mqtt5`` (True/False) when an MQTT broker let
    us connect and subscribe to the scans, else ``None`` with ``why``."""

    mqtt5: bool | None
    why: str


def bindable(host: str, port: int) -> bool:
    """Whether a listener could be had on host:port now (as amqtt binds it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _subscribes(host: str, port: int, protocol: int, timeout: float) -> tuple[bool, str]:
    """Connect (clean session, nothing left behind) and subscribe to the scans."""
    outcome: dict[str, str] = {}
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol,
                         client_id=f"tracking-probe-{uuid.uuid4().hex[:8]}")

    def connected(c: mqtt.Client, _: Any, __: Any, reason: Any, ___: Any) -> None:
        if reason.is_failure:
            outcome["refused"] = f"refused the connection ({reason})"
            done.set()
        else:
            c.subscribe(TOPIC_FILTER, qos=1)

    def subscribed(_: mqtt.Client, __: Any, ___: int, reasons: list[Any], ____: Any) -> None:
        if reasons[0].is_failure:
            outcome["refused"] = f"refused a subscription to {TOPIC_FILTER} ({reasons[0]})"
        else:
            outcome["ok"] = ""
        done.set()

    client.on_connect, client.on_subscribe = connected, subscribed
    client.on_disconnect = lambda *_: done.set()
    client.connect(host, port, keepalive=10)
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    if "ok" in outcome:
        return True, ""
    return False, outcome.get("refused", "does not answer as an MQTT broker")


def probe(host: str, port: int, timeout: float = 3.0) -> Found:
    """What answers on host:port: an MQTT 5 broker, an MQTT 3.1.1 one (amqtt:
    another `tracking all`), or something we cannot consume from."""
    why = ""
    for protocol in (mqtt.MQTTv5, mqtt.MQTTv311):
        try:
            ok, why = _subscribes(host, port, protocol, timeout)
        except OSError as e:
            return Found(None, f"cannot be connected to ({e})")
        if ok:
            return Found(protocol == mqtt.MQTTv5, "")
    return Found(None, why)


@dataclass(frozen=True)
class Embedded:
    """Where `tracking all` consumes scans when TRACKING_MQTT_URL is not set:
    the embedded broker to start (``broker``), or a broker already there."""

    address: BrokerAddress
    broker: EmbeddedBroker | None
    mqtt5: bool
    client_id: str
    session_expiry: int


def borrowed_client_id(settings: Settings) -> str:
    """The client id to consume from a broker that is not ours: the one
    configured, or one per database, so two checkouts (or a `tracking
    ingest` with the default id) never take each other's session."""
    if settings.mqtt_client_id != Settings.mqtt_client_id:
        return settings.mqtt_client_id
    store = settings.eventstore_env()
    where = (os.path.abspath(store["SQLITE_DBNAME"]) if "SQLITE_DBNAME" in store
             else _redact(settings.database_url))
    return f"tracking-all-{hashlib.sha256(where.encode()).hexdigest()[:10]}"


def plan(settings: Settings, host: str = "127.0.0.1") -> Embedded:
    """Start the embedded broker on TRACKING_MQTT_EMBEDDED_PORT, or consume
    from the MQTT broker already there, or start ours on a free port: never
    a default under which a scan published as the README says goes unread."""
    port = settings.mqtt_embedded_port
    if bindable(host, port):
        return Embedded(BrokerAddress(host, port), EmbeddedBroker(host, port), False,
                        settings.mqtt_client_id, SESSION_EXPIRY)
    found = probe(host, port)
    if found.mqtt5 is not None:
        client_id = borrowed_client_id(settings)
        log.warning(
            "port %d already has an MQTT broker (MQTT %s): consuming scans from it as client id "
            "%s, a subscription of its own that takes no other subscriber's scans; "
            "publish as before (%s). Set TRACKING_MQTT_URL to choose the broker, or "
            "TRACKING_MQTT_EMBEDDED_PORT a free port for the embedded one",
            port, "5" if found.mqtt5 else "3.1.1", client_id, PUBLISH_EXAMPLE)
        return Embedded(BrokerAddress(host, port), None, found.mqtt5, client_id,
                        BORROWED_SESSION_EXPIRY)
    free = next((p for p in range(port + 1, min(port + 20, 65535)) if bindable(host, p)), None)
    if free is None:
        with socket.socket() as s:
            s.bind((host, 0))
            free = int(s.getsockname()[1])
    announce = (f"port {port} is taken by something scans cannot be consumed from (it "
                f"{found.why}): the embedded MQTT broker listens on {host}:{free} instead; "
                f"publish there: {PUBLISH_EXAMPLE.replace('mosquitto_pub', f'mosquitto_pub -p {free}')}")
    return Embedded(BrokerAddress(host, free), EmbeddedBroker(host, free, announce=announce),
                    False, settings.mqtt_client_id, SESSION_EXPIRY)
