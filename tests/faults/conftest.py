"""The fault suite's harness: a private Mosquitto configured as in
production (persistent, no queue limit), the `tracking` processes started
and killed for real, publishers that remember which scans got a PUBACK,
on the real PostgreSQL (a schema per test)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from adapters.composition import build_service
from adapters.settings import Settings
from tests.builders import AGENT, HK_STO, booking
from tests.conftest import IN_CI
from tests.ports import free_port, listening
from tests.waiting import eventually

T0 = datetime(2009, 3, 2, tzinfo=UTC)
EVENTS = ["RECEIVED", "ARRIVED", "UNLOADED", "HANDED_OVER"]  # valid anywhere, no voyage needed


class Broker:
    """A Mosquitto of the test's own: persistent sessions and queues, and
    no limit on queued QoS 1 messages (the default of 1000 drops messages
    it already acknowledged when a consumer is away)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {workdir}/\nautosave_interval 1\nmax_queued_messages 0\n"
            "max_inflight_messages 0\n"
            # As root it would drop to the mosquitto user, who cannot write its
            # persistence into the test's directory: sessions and queues would
            # then not survive a restart.
            "user root\n"
        )
        self.process = self._launch()

    def _launch(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        eventually(lambda: listening(self.port), timeout=10, what="the private mosquitto listens")
        return process

    def restart(self) -> None:
        self.process.send_signal(signal.SIGTERM)  # it saves its sessions and queues
        self.process.wait(10)
        time.sleep(0.3)
        self.process = self._launch()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if not _has_mosquitto():
        message = "the fault suite needs the mosquitto binary"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    b = Broker(tmp_path)
    yield b
    b.stop()


FAULT_TOKENS = {"d-token": "device", "a-token": "agent", "m-token": "merchant",
                "c-token": "carrier"}


def _has_mosquitto() -> bool:
    return subprocess.run(["which", "mosquitto"], capture_output=True).returncode == 0


@pytest.fixture
def settings(postgres_schema_url: str, broker: Broker) -> Settings:
    return Settings(database_url=postgres_schema_url, mqtt_url=broker.url,
                    mqtt_client_id=f"faults-{uuid.uuid4().hex[:8]}", mqtt_group="faults",
                    api_tokens=FAULT_TOKENS)


class Process:
    """A `tracking` subcommand in a process of its own, killed for real."""

    def __init__(self, settings: Settings, command: str, **env: str) -> None:
        self.app_name = f"faults-{command}-{uuid.uuid4().hex[:6]}"
        self.env = {
            **os.environ,
            "TRACKING_DATABASE_URL": settings.database_url,
            "TRACKING_MQTT_URL": settings.mqtt_url or "",
            "TRACKING_MQTT_CLIENT_ID": settings.mqtt_client_id,
            "TRACKING_MQTT_GROUP": settings.mqtt_group,
            # Settings keep only the tokens' digests: the plain ones come from here
            "TRACKING_API_TOKENS": ",".join(f"{r}:{t}" for t, r in FAULT_TOKENS.items()),
            "TRACKING_HTTP_PORT": str(settings.http_port),
            "PGAPPNAME": self.app_name,  # so a scenario can cut only this process's connections
            **env,
        }
        self.command = command
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"{self.app_name}.log"

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "adapters.cli", *self.command.split()], env=self.env,
                stdout=out, stderr=subprocess.STDOUT,
            )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        """The end of what it printed (its JSON log lines), for a failing assertion."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.kills += 1

    def stop(self) -> int:
        """SIGTERM, and the exit status."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return -9


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for p in started:
        if p.process is not None and p.process.poll() is None:
            p.process.kill()
            p.process.wait(10)


@dataclass
class Traffic:
    """Scans for shipments FLT…: unique scan_ids, each shipment's scans an
    hour apart, every one a valid scan anywhere on any route."""

    shipments: list[str]
    scans: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def make(cls, shipments: int, per_shipment: int, seed: int = 1) -> Traffic:
        rng = random.Random(seed)
        tns = [f"FLT{seed:02d}{i:06d}" for i in range(shipments)]
        t = cls(tns)
        for k in range(per_shipment):
            for tn in tns:
                t.scans.append({
                    "scan_id": f"{tn}-{k}", "device_id": f"dev-{rng.randrange(4)}",
                    "tracking_number": tn, "event": rng.choice(EVENTS), "location": "HKHKG",
                    "occurred_at": (T0 + timedelta(hours=k)).isoformat(),
                })
        return t

    def book(self, settings: Settings) -> None:
        service = build_service(settings)
        try:
            for tn in self.shipments:
                service.book(tn, booking(), HK_STO, AGENT)
        finally:
            service.close()


class Publisher:
    """A scanner gateway: publishes at QoS 1 with a persistent session,
    tries again while the broker is away, and remembers what was PUBACKed."""

    def __init__(self, broker: Broker, name: str) -> None:
        self.acked: list[tuple[str, str]] = []
        self._pending: dict[int, tuple[str, str]] = {}
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{name}-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.on_publish = self._on_publish
        props = mqtt.Properties(mqtt.PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        self.client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_publish(self, client: Any, userdata: Any, mid: int, *rest: Any) -> None:
        # Never call paho while holding this lock: paho calls this holding its own.
        with self._lock:
            done = self._pending.pop(mid, None)
            if done is not None:
                self.acked.append(done)
            else:
                self._early.add(mid)  # the PUBACK came before publish() returned its mid

    def publish(self, scan: dict[str, Any] | bytes, key: tuple[str, str] | None = None,
                topic: str | None = None) -> None:
        if isinstance(scan, dict):
            body = json.dumps(scan).encode()
            key = (scan["tracking_number"], scan["scan_id"])
            topic = topic or f"scanners/hkg/{scan['device_id']}/scans"
        else:
            body = scan
        # While the broker is away paho keeps the message (no queue limit)
        # and sends it once connected again.
        info = self.client.publish(topic or "scanners/hkg/dev-0/scans", body, qos=1)
        if key is None:
            return
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.acked.append(key)
            else:
                self._pending[info.mid] = key

    def wait_all_acked(self, timeout: float = 60) -> None:
        eventually(lambda: not self._pending, timeout=timeout, what="a PUBACK for every scan")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def publishers(broker: Broker) -> Iterator[list[Publisher]]:
    made = [Publisher(broker, f"p{i}") for i in range(3)]
    yield made
    for p in made:
        p.close()


def pipeline(
    settings: Settings, processes: list[Process], traffic: Traffic, **ingest_env: str
) -> tuple[Process, Process]:
    """Book the traffic's shipments, start `tracking ingest` and `tracking
    project` (kept in ``processes`` to be cleaned up), and wait until the
    consumer has subscribed (its session then exists on the broker: what is
    published while it is down waits there for it) and the projector follows
    the log. A fixed pause was not enough on a loaded machine: scans
    published before the first subscription reach no one."""
    traffic.book(settings)
    ingest = Process(settings, "ingest", **ingest_env).start()
    projector = Process(settings, "project").start()
    processes.extend([ingest, projector])
    eventually(lambda: "subscribed to" in ingest.log.read_text(errors="replace"), timeout=60,
               what=f"the consumer subscribed\n{ingest.tail()}")
    # And the projector started (its views made, the log caught up): on a loaded
    # machine a fault of the first seconds hit its start, not the stream.
    eventually(lambda: "following the log" in projector.log.read_text(errors="replace"),
               timeout=60, what=f"the projector started\n{projector.tail()}")
    return ingest, projector
