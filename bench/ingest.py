"""Ingest benchmark: sustained end-to-end ingestion over MQTT at QoS 1 on
PostgreSQL, publish -> durably recorded -> acknowledged, with the consumer
as it is deployed (``tracking ingest``, a separate process).

It seeds N shipments (the journeys of adapters/mqtt/simulate.py: 2-3 leg
lanes between real UN/LOCODEs, the first 1-3 scans of each recorded through
the service) into a schema that is dropped and recreated at every run,
starts ``tracking ingest`` with a client id and shared-subscription group of
its own, then measures:

  (0) the ceiling: publish -> receive at QoS 1 through the same broker, no
      database: a paho-mqtt subscriber set up as the consumer's client (MQTT
      5, receive maximum 1000, manual acks) that only acks, at 5,000
      messages/s and as fast as the publishers go (and, as fast as they go,
      with paho-mqtt publishers, to show what paho costs per message);
  (1) a warm-up: one scan per shipment, so the consumer's aggregate cache
      holds every shipment (its cold start is shown, not judged);
  (2) stages at fixed offered rates (2,000, 5,000, 7,500 and 10,000
      messages/s by default, 15 s each) and as fast as possible: the rest of each
      journey's scans in the order they happened, then follow-up scans,
      with 1% duplicates, 0.5% malformed messages and 2% misrouted unloads
      (simulate.traffic). Two publisher processes, paced open loop, each
      with at most 1,000 messages awaiting their PUBACK. They speak MQTT
      3.1.1 on a plain socket: paho-mqtt costs ~150 us of CPU per message
      published, and offering 10,000/s with it would take more than one of
      the machine's two cores from the system under test;
  (3) with py-spy (on PATH, $PY_SPY or --py-spy): where the consumer's time
      goes at 5,000 messages/s, by part of the ingest path and by function.

How latency is measured: each valid scan's ``scan_id`` carries the wall
time (us) at which it was handed to the socket. A thread of this process
polls ``max(notification_id)`` of the event store every ~5 ms and keeps
(time, max id); notification ids commit in order (the recorder locks the
table), so a scan is durably recorded by the first sample whose max id
reaches its row. Latency = that sample's time - the stamp: an upper bound,
late by at most one poll (~5-6 ms). It ends at the commit; the consumer
acknowledges right after it, which the publisher cannot see. The event's
own ``timestamp`` (taken when the domain command runs, before the insert)
splits it into "waiting" (publish -> command) and "writing" (command ->
commit seen). Batch sizes are rows per transaction (grouped by xmin).

Recorded rate = valid scans recorded / (last commit seen - first publish):
when the consumer keeps up it is the offered rate of valid scans; when it
cannot, the backlog drains after publishing stops, at the consumer's own
pace, and the figure is its capacity. A stage "kept" up when nothing was
lost or doubled and the backlog drained within 1 s; "behind" when all was
recorded but later; "LOST" otherwise. The checks: every valid scan published
is in the event store exactly once (rows counted per scan_id), and each
malformed message is one dead letter; WARNING lines say otherwise.

The broker: by default a PRIVATE Mosquitto on a free port of 127.0.0.1 with
Mosquitto's default limits (as the system broker, whose config sets none).
The consumer subscribes to every ``scanners/+/+/scans``: on a shared broker
it would record other people's test traffic, and their consumers would get
this benchmark's 10,000 messages/s and its dead letters. ``--mqtt-url
mqtt://127.0.0.1:1883`` uses the shared broker anyway. ``--broker-queue N``
sets the private broker's ``max_queued_messages``: Mosquitto's default is
1000 per client, beyond what is in flight, and a QoS 1 message for a
consumer that is further behind is DROPPED by the broker after the publisher
had its PUBACK. The broker's own count of dropped messages
($SYS/broker/publish/messages/dropped) is shown for each stage.

Everything shares one machine (2 CPUs on the reference one): PostgreSQL,
the broker, the consumer, the publishers and this process; each stage shows
the CPU each used. Nothing about timing is asserted.

Run:
    .venv/bin/python bench/ingest.py                    # ~4 min
    .venv/bin/python bench/ingest.py --quick            # smoke test, ~35 s
    .venv/bin/python bench/ingest.py --rate 5000,8000 --duration 30 --shipments 10000
    .venv/bin/python bench/ingest.py --broker-queue 0   # a broker that never drops
    .venv/bin/python bench/ingest.py --consumers 2      # two consumers sharing the subscription

Database: TRACKING_BENCH_DATABASE_URL, by default
postgresql://postgres@127.0.0.1:5432/test?schema=bench_ingest. The schema
named in the URL is DROPPED and recreated at the start of every run.
"""

from __future__ import annotations

import os
import sys


import argparse  # noqa: E402
import bisect  # noqa: E402
import collections  # noqa: E402
import itertools  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from importlib.metadata import version  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import msgspec  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
import psycopg  # noqa: E402
from eventsourcing.utils import get_topic  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from psycopg import sql  # noqa: E402

from adapters.mqtt.simulate import Journey, Planner, Publisher, publish_paced, traffic  # noqa: E402
from store import conninfo, reset_schema  # noqa: E402  (bench/store.py, as reads.py does)
from adapters.settings import Settings  # noqa: E402
from tracking.identifiers import Locode  # noqa: E402
from tracking.scan import Scan  # noqa: E402
from tracking.shipment import Shipment  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_ingest"
BAR, AIM = 5_000, 10_000  # scans/s sustained on 2 cores, nothing lost
SEED = 20241124
INFLIGHT = 1000  # per publisher: messages awaiting their PUBACK
POLL = 0.005  # s between samples of the event store's max notification id
SCAN_TOPIC = get_topic(Shipment.ScanRecorded)
ROOT = Path(__file__).resolve().parent.parent
WARNINGS: list[str] = []


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    WARNINGS.append(f"WARNING: {message}")
    print(WARNINGS[-1], flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


# -- how much to do -----------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    shipments: int
    rates: tuple[float, ...]  # messages/s offered, 0 = as fast as possible
    duration: float  # s per stage
    publishers: int
    ceiling: tuple[tuple[str, float, float], ...]  # (kind, rate, seconds)
    warm_rate: float
    profile: tuple[float, float] | None  # (rate, seconds)
    quiet: float  # s without a new scan recorded after which a stage's missing scans are lost


def make_plan(args: argparse.Namespace) -> Plan:
    quick = args.quick
    rates = tuple(float(r) for r in args.rate.split(",")) if args.rate else (
        (3_000.0, 0.0) if quick else (2_000.0, 5_000.0, 7_500.0, 10_000.0, 0.0))  # fmt: skip
    duration = args.duration or (3.0 if quick else 15.0)
    seconds = 2.0 if quick else 8.0  # each ceiling measurement
    ceiling = tuple(("ceiling", rate, seconds) for rate in (5_000.0, 0.0))
    return Plan(
        shipments=args.shipments or (500 if quick else 5_000),
        rates=rates,
        duration=duration,
        publishers=args.publishers,
        ceiling=ceiling if quick else ceiling + (("ceiling-paho", 0.0, seconds),),
        warm_rate=2_000.0,
        profile=None if not args.profile else ((5_000.0, 3.0) if quick else (5_000.0, 10.0)),
        quiet=2.0 if quick else 5.0,
    )


# -- other benchmarks -----------------------------------------------------------------------


def wait_for_other_benchmarks(limit: float = 600.0) -> None:
    """Figures from a machine another benchmark is loading mean little: wait
    (up to ``limit`` s) until no other bench/*.py runs."""
    mine = ancestors()
    started = time.monotonic()
    while True:
        ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
        others = [line.strip() for line in ps.splitlines()
                  if re.search(r"bench/\w+\.py", line) and int(line.split()[0]) not in mine]  # fmt: skip
        if not others:
            return
        if time.monotonic() - started > limit:
            warn(f"another benchmark still runs after {limit:.0f} s; measuring anyway: {others[0]}")
            return
        progress(f"waiting for another benchmark to finish: {others[0][:100]}")
        time.sleep(10)


def ancestors() -> set[int]:
    """This process and those that started it (bench/all.py, a `timeout`
    wrapping it): none of them is another benchmark."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: the parent
    return found | {os.getppid()}


# -- the broker ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateBroker:
    """Mosquitto on a free port of 127.0.0.1, for this run only."""

    def __init__(self, workdir: Path, queue: int | None) -> None:
        self.port = free_port()
        self.log = workdir / "mosquitto.log"
        conf = workdir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false",
                 "log_dest stderr", "sys_interval 1"]  # fmt: skip
        if queue is not None:
            lines.append(f"max_queued_messages {queue}")
        conf.write_text("\n".join(lines) + "\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.version = subprocess.run([binary, "-h"], capture_output=True, text=True).stdout.split("\n")[0]
        self.queue = queue
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"mosquitto did not start: {self.log.read_text()[-500:]}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def drop_lines(self) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines() if "dropped" in line]


class BrokerStats:
    """The broker's own count of messages it dropped (queue or in-flight
    limits), and of messages it holds (queued for the consumer, in flight),
    from $SYS, published every sys_interval."""

    TOPIC = "$SYS/broker/publish/messages/dropped"
    STORED = "$SYS/broker/store/messages/count"

    def __init__(self, host: str, port: int, interval: float) -> None:
        self.interval = interval  # the broker's sys_interval: it publishes a count only when it changed
        self.dropped: int | None = None
        self.stored: int | None = None
        self.updated = 0.0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sys-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        self.client.on_connect = lambda c, *_: c.subscribe([(self.TOPIC, 0), (self.STORED, 0)])
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_message(self, _: Any, __: Any, message: mqtt.MQTTMessage) -> None:
        try:
            value = int(message.payload)
        except ValueError:
            return
        if message.topic == self.STORED:
            self.stored = value
        else:
            self.dropped, self.updated = value, time.monotonic()

    def fresh(self) -> int | None:
        """The count as of now: a newer one, or the last one if none comes
        within an interval (it did not change)."""
        asked, deadline = time.monotonic(), time.monotonic() + self.interval + 0.5
        while self.updated < asked and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.dropped

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# -- journeys: the same ones in every process -------------------------------------------------


def fleet(now: datetime, shipments: int, seed: int) -> list[Journey]:
    planner = Planner(random.Random(seed))
    return [planner.journey(now) for _ in range(shipments)]


def seeded(index: int, journey: Journey) -> int:
    """How many of a journey's first scans are recorded before the run (1-3)."""
    return min(len(journey.steps), 1 + index % 3)


# -- publisher processes ----------------------------------------------------------------------


class LeanPublisher:
    """MQTT 3.1.1 at QoS 1 over a plain socket, in one thread, at most
    ``inflight`` messages awaiting their PUBACK. paho-mqtt costs ~150 us of
    CPU per message published (a network thread, wake-ups, callbacks):
    offering 10,000 messages/s with it would take more than one of the
    machine's two cores from the system under test."""

    def __init__(self, host: str, port: int, client_id: str, inflight: int = INFLIGHT) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = client_id.encode()
        # CONNECT: protocol "MQTT" level 4, clean session, keep-alive 0 (off: idle between stages)
        body = b"\x00\x04MQTT\x04\x02\x00\x00" + len(cid).to_bytes(2, "big") + cid
        self.sock.sendall(b"\x10" + _varint(len(body)) + body)
        connack = b""
        while len(connack) < 4:
            chunk = self.sock.recv(4 - len(connack))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            connack += chunk
        if connack[0] != 0x20 or connack[3] != 0:
            raise RuntimeError(f"the broker refused the connection: {connack!r}")
        self.sock.settimeout(None)
        self.inflight = inflight
        self._mids = itertools.cycle(range(1, 65536))
        self._unread = b""
        self.sent = self.acked = self.refused = 0

    def _read_acks(self, block: bool) -> None:
        try:
            chunk = self.sock.recv(65536, 0 if block else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        # Only PUBACKs (0x40 0x02 and the message id) come back to a QoS 1 publisher.
        data = self._unread + chunk
        whole = len(data) // 4
        self.acked += whole
        self._unread = data[whole * 4 :]

    def send(self, topic: str, payload: bytes) -> None:
        while self.sent - self.acked >= self.inflight:
            self._read_acks(block=True)
        if self.sent % 64 == 0:
            self._read_acks(block=False)
        name = topic.encode()
        body = len(name).to_bytes(2, "big") + name + next(self._mids).to_bytes(2, "big") + payload
        self.sock.sendall(b"\x32" + _varint(len(body)) + body)
        self.sent += 1

    def drain(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            while self.acked < self.sent:
                self._read_acks(block=True)
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(None)
        return True

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
            self.sock.close()
        except OSError:
            pass


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publisher_main(conn: Connection, index: int, publishers: int, host: str, port: int,
                   now: datetime, shipments: int, seed: int, run: str) -> None:  # fmt: skip
    """Publishes what the parent asks for, stage by stage; each valid scan's
    id stamped with the wall time (us) it is handed to paho."""
    journeys = fleet(now, shipments, seed)
    mine = [replace(j, steps=j.steps[seeded(i, j):])
            for i, j in enumerate(journeys) if i % publishers == index]  # fmt: skip
    rng = random.Random(seed + 1 + index)
    planner = Planner(rng)
    stage = ["-"]
    seq = itertools.count()

    def new_id() -> str:
        return f"{stage[0]}.{index}.{next(seq)}.{time.time_ns() // 1000}"

    stream = traffic(mine, rng, new_id=new_id, endless=True)
    ceiling_stream = traffic(mine, random.Random(seed - 1 - index), new_id=new_id, endless=True)
    lean = LeanPublisher(host, port, client_id=f"bench-pub-{run}-{index}")
    paho = Publisher(host, port, inflight=INFLIGHT, client_id=f"bench-paho-{run}-{index}")
    conn.send("ready")
    while True:
        command = conn.recv()
        if command[0] == "stop":
            break
        kind, name, rate, seconds = command
        stage[0] = name
        publisher: LeanPublisher | Publisher = lean
        if kind == "ceiling-paho":
            kind, publisher = "ceiling", paho
        if kind == "warmup":  # one scan per shipment
            now_ = datetime.now(UTC)
            messages = traffic([replace(j, steps=(planner.follow_up(j, now_),)) for j in mine], rng,
                               new_id=new_id)  # fmt: skip
        elif kind == "ceiling":  # the same payloads on a topic no consumer reads
            messages = (m._replace(topic=f"bench-ceiling/{run}/{index}") for m in ceiling_stream)
        else:
            messages = stream
        acked, refused = publisher.acked, publisher.refused
        cpu0 = time.process_time()
        first = time.time()
        tally = publish_paced(publisher, messages, rate, seconds=seconds)
        last = time.time()
        drained = publisher.drain(120)
        conn.send({
            "published": tally.published, "valid": tally.valid, "duplicates": tally.duplicates,
            "malformed": tally.malformed, "misrouted": tally.misrouted,
            "acked": publisher.acked - acked, "refused": publisher.refused - refused,
            "drained": drained, "first": first, "last": last, "scan_ids": tally.scan_ids,
            "cpu": time.process_time() - cpu0,
        })  # fmt: skip
    lean.close()
    paho.close()


class Publishers:
    def __init__(self, plan: Plan, host: str, port: int, now: datetime, run: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for index in range(plan.publishers):
            parent, child = ctx.Pipe()
            args = (child, index, plan.publishers, host, port, now, plan.shipments, SEED, run)
            p = ctx.Process(target=publisher_main, name=f"publisher-{index}", daemon=True, args=args)
            p.start()
            self.pipes.append(parent)
            self.processes.append(p)
        for pipe in self.pipes:
            if not pipe.poll(60):
                raise RuntimeError("a publisher process did not start")
            pipe.recv()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def start(self, kind: str, name: str, rate: float, seconds: float | None) -> None:
        for pipe in self.pipes:
            pipe.send((kind, name, rate / len(self.pipes), seconds))

    def results(self) -> dict[str, Any]:
        parts = [pipe.recv() for pipe in self.pipes]
        total: dict[str, Any] = {k: sum(p[k] for p in parts)
                                 for k in ("published", "valid", "duplicates", "malformed", "misrouted",
                                           "acked", "refused", "cpu")}  # fmt: skip
        total["drained"] = all(p["drained"] for p in parts)
        total["first"] = min(p["first"] for p in parts)
        total["last"] = max(p["last"] for p in parts)
        total["scan_ids"] = [i for p in parts for i in p["scan_ids"]]
        return total

    def run(self, kind: str, name: str, rate: float, seconds: float | None) -> dict[str, Any]:
        self.start(kind, name, rate, seconds)
        return self.results()

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("stop",))
            except OSError:
                pass
        for p in self.processes:
            p.join(10)
            if p.is_alive():
                p.kill()


# -- the ceiling: publish -> receive, no database ----------------------------------------------


def subscriber_main(conn: Connection, host: str, port: int, topic: str) -> None:
    """Receives at QoS 1 as the consumer does (MQTT 5, receive maximum 1000,
    manual acks), acking each message at once; latency from the stamp in
    its scan_id."""
    latencies: list[int] = []
    state = {"received": 0, "first": 0.0, "last": 0.0}
    decode = msgspec.json.Decoder(dict[str, Any]).decode
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5, manual_ack=True)  # fmt: skip

    def on_message(c: mqtt.Client, _: Any, message: mqtt.MQTTMessage) -> None:
        now = time.time()
        state["received"] += 1
        state["first"] = state["first"] or now
        state["last"] = now
        try:
            latencies.append(int(now * 1e6) - int(decode(message.payload)["scan_id"].rsplit(".", 1)[1]))
        except (msgspec.DecodeError, KeyError, ValueError, IndexError):
            pass  # a malformed one: counted, not timed
        c.ack(message.mid, message.qos)

    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    properties = Properties(PacketTypes.CONNECT)
    properties.ReceiveMaximum = INFLIGHT
    client.connect(host, port, properties=properties)
    client.loop_start()
    subscribed.wait(10)
    conn.send("ready")
    while True:
        command = conn.recv()
        if command == "stop":
            break
        expected = command  # wait for that many, or 1.5 s of silence
        while state["received"] < expected and time.time() - (state["last"] or time.time()) < 1.5:
            time.sleep(0.05)
        cpu = time.process_time()
        conn.send({**state, "latencies": latencies[:], "cpu": cpu})
        latencies.clear()
        state.update(received=0, first=0.0, last=0.0)
    client.disconnect()
    client.loop_stop()


@dataclass
class CeilingResult:
    label: str
    offered: float
    published: int
    publish_rate: float
    received: int
    receive_rate: float
    latencies_ms: list[float]
    publisher_us: float  # CPU per message published
    subscriber_us: float  # CPU per message received


def measure_ceiling(plan: Plan, publishers: Publishers, host: str, port: int,
                    run: str) -> list[CeilingResult]:  # fmt: skip
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    sub = ctx.Process(target=subscriber_main, args=(child, host, port, f"bench-ceiling/{run}/#"), daemon=True)
    sub.start()
    results = []
    try:
        if not parent.poll(30):
            raise RuntimeError("the ceiling subscriber did not start")
        parent.recv()
        subscriber_cpu = 0.0
        for kind, rate, seconds in plan.ceiling:
            label = f"{rate:,.0f}/s" if rate else "max"
            label += ", paho pub" if kind == "ceiling-paho" else ""
            progress(f"ceiling: publish -> paho subscriber, {label}, {seconds:.0f} s")
            sent = publishers.run(kind, "ceiling", rate, seconds)
            parent.send(sent["published"])
            got = parent.recv()
            span = (got["last"] - sent["first"]) or 1e-9
            results.append(CeilingResult(
                label, rate, sent["published"], sent["published"] / (sent["last"] - sent["first"]),
                got["received"], got["received"] / span, [x / 1000 for x in got["latencies"]],
                1e6 * sent["cpu"] / max(sent["published"], 1),
                1e6 * (got["cpu"] - subscriber_cpu) / max(got["received"], 1),
            ))  # fmt: skip
            subscriber_cpu = got["cpu"]
        parent.send("stop")
        sub.join(10)
    finally:
        if sub.is_alive():
            sub.kill()
    return results


# -- the database ---------------------------------------------------------------------------


class Timeline:
    """(time, max notification id) every POLL s, from a thread of its own."""

    def __init__(self, settings: Settings, schema: str) -> None:
        self.conn = psycopg.connect(conninfo(settings), autocommit=True)
        self.query = sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}.tracking_events").format(
            sql.Identifier(schema))  # fmt: skip
        self.times: list[float] = []
        self.ids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="timeline", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self.conn.cursor() as cur:
            while not self._stop.is_set():
                cur.execute(self.query, prepare=True)
                row = cur.fetchone()
                self.times.append(time.time())
                self.ids.append(int(row[0]) if row else 0)
                self._stop.wait(POLL)

    @property
    def last_id(self) -> int:
        return self.ids[-1] if self.ids else 0

    def seen_at(self, notification_id: int) -> float:
        """When the first sample reached this id (inf if none yet)."""
        i = bisect.bisect_left(self.ids, notification_id)
        return self.times[i] if i < len(self.ids) else float("inf")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()


class Row(msgspec.Struct, array_like=True):
    notification_id: int
    xid: int
    scan_id: str
    timestamp: str


class Store:
    """What the benchmark reads back: recorded scans and dead letters."""

    def __init__(self, settings: Settings, schema: str) -> None:
        self.conn = psycopg.connect(conninfo(settings), autocommit=True)
        s = sql.Identifier(schema)
        self.rows_query = sql.SQL(
            "SELECT e.notification_id, e.xmin::text::bigint, j #>> '{{scan,scan_id}}', j ->> 'timestamp' "
            "FROM {}.tracking_events e, LATERAL (SELECT convert_from(e.state, 'UTF8')::jsonb AS j) d "
            "WHERE e.notification_id > %s AND e.topic = %s ORDER BY e.notification_id"
        ).format(s)  # fmt: skip
        self.count_query = sql.SQL(
            "SELECT count(*) FROM {}.tracking_events WHERE notification_id > %s AND topic = %s").format(s)
        self.repeats_query = sql.SQL(
            "SELECT j #>> '{{scan,scan_id}}' AS id, count(*) FROM {}.tracking_events e, "
            "LATERAL (SELECT convert_from(e.state, 'UTF8')::jsonb AS j) d WHERE e.topic = %s "
            "GROUP BY id HAVING count(*) > 1 LIMIT 20"
        ).format(s)  # fmt: skip
        self.letters_query = sql.SQL("SELECT count(*) FROM {}.dead_letters").format(s)
        self.max_query = sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}.tracking_events").format(s)

    def max_id(self) -> int:
        row = self.conn.execute(self.max_query).fetchone()
        return int(row[0]) if row else 0

    def scans_after(self, notification_id: int) -> int:
        row = self.conn.execute(self.count_query, (notification_id, SCAN_TOPIC)).fetchone()
        return int(row[0]) if row else 0

    def rows_after(self, notification_id: int) -> list[Row]:
        cur = self.conn.execute(self.rows_query, (notification_id, SCAN_TOPIC))
        return [Row(*r) for r in cur.fetchall()]

    def repeated_scan_ids(self) -> list[tuple[str, int]]:
        return [(str(i), int(n)) for i, n in self.conn.execute(self.repeats_query, (SCAN_TOPIC,)).fetchall()]

    def dead_letters(self) -> int:
        try:
            row = self.conn.execute(self.letters_query).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        return int(row[0]) if row else 0

    def shared_buffers(self) -> str:
        row = self.conn.execute("SHOW shared_buffers").fetchone()
        return str(row[0]) if row else "?"

    def close(self) -> None:
        self.conn.close()


# -- seeding --------------------------------------------------------------------------------


def seed(settings: Settings, journeys: Sequence[Journey]) -> tuple[float, float, int]:
    """Book every shipment (one per call) and record its first 1-3 scans (in
    batches of 1,000, in time order). Returns the seconds each took and the
    scans recorded."""
    from adapters.composition import build_service
    from adapters.mqtt.simulate import SOURCE

    service = build_service(settings)
    try:
        started = time.perf_counter()
        for j in journeys:
            service.book(j.tracking_number, j.booking, j.route, SOURCE)
        booked = time.perf_counter()
        scans = sorted(
            (Scan(scan_id=f"seed.{i}.{k}", tracking_number=j.tracking_number, event=s.event,
                  location=Locode(s.location), occurred_at=s.at, device_id="seed", voyage=s.voyage,
                  reason=s.reason)
             for i, j in enumerate(journeys) for k, s in enumerate(j.steps[:seeded(i, j)])),
            key=lambda s: s.occurred_at,
        )  # fmt: skip
        recorded = 0
        for at in range(0, len(scans), 1000):
            recorded += sum(o.result.value == "recorded" for o in service.record_scans(scans[at : at + 1000]))
        if recorded != len(scans):
            warn(f"seeding: {recorded:,} of {len(scans):,} scans recorded")
        return booked - started, time.perf_counter() - booked, recorded
    finally:
        service.close()


# -- processes: CPU and memory --------------------------------------------------------------


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError, ValueError):
            pass
    return total


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / TICK, sum(fields) / TICK


def memory_kb(pid: int, key: str) -> int:
    """VmRSS or VmHWM (the peak RSS) of a process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class CpuMeter:
    """CPU seconds used by each party between two readings, process by
    process (a PostgreSQL backend may come or go in between)."""

    def __init__(self, parties: dict[str, Any]) -> None:
        self.parties = parties  # name -> callable giving pids

    def read(self) -> dict[str, dict[int, float]]:
        reading = {name: {pid: cpu_seconds([pid]) for pid in pids()} for name, pids in self.parties.items()}
        reading["this process"] = {0: sum(os.times()[:2])}
        busy, total = machine_busy()
        reading["machine busy"], reading["machine total"] = {0: busy}, {0: total}
        return reading

    def peak_rss_kb(self) -> dict[str, tuple[int, int]]:
        """Each party's largest peak RSS (VmHWM) among its processes alive
        now, and how many processes it has (PostgreSQL: one per backend,
        each counting the shared buffers it touched)."""
        peaks: dict[str, tuple[int, int]] = {}
        for name, pids in self.parties.items():
            found = []
            for pid in pids():
                try:
                    found.append(memory_kb(pid, "VmHWM"))
                except OSError:
                    pass
            peaks[name] = (max(found, default=0), len(found))
        return peaks

    @staticmethod
    def used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        return {name: sum(cpu - before[name].get(pid, 0.0) for pid, cpu in pids.items())
                for name, pids in after.items()}  # fmt: skip


# -- the consumer ---------------------------------------------------------------------------


class Consumer:
    """``tracking ingest`` in a process of its own."""

    def __init__(self, settings_url: str, mqtt_url: str, run: str, index: int, log: Path) -> None:
        binary = Path(sys.executable).with_name("tracking")
        if not binary.exists():
            binary = ROOT / ".venv" / "bin" / "tracking"
        self.client_id = f"bench-ingest-{run}-{index}"
        # Nothing of this shell's TRACKING_* (a device registry would turn the scans into dead letters).
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKING_")}
        env |= {"TRACKING_DATABASE_URL": settings_url, "TRACKING_MQTT_URL": mqtt_url,
                "TRACKING_MQTT_CLIENT_ID": self.client_id, "TRACKING_MQTT_GROUP": f"bench{run}"}  # fmt: skip
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen([str(binary), "ingest"], env=env, stdout=out,
                                            stderr=subprocess.STDOUT)  # fmt: skip
        self.peak_rss_kb = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_connected(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while "connected to the broker" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tracking ingest did not connect:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def rss_kb(self) -> int:
        try:
            self.peak_rss_kb = max(self.peak_rss_kb, memory_kb(self.pid, "VmHWM"))
            return memory_kb(self.pid, "VmRSS")
        except OSError:
            return 0

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.rss_kb()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def probe(host: str, port: int, journey: Journey, store: Store, timeout: float = 30) -> None:
    """Publish a scan every 0.5 s until one is recorded: the consumer is
    subscribed (a message published before that would reach no one)."""
    publisher = Publisher(host, port, inflight=10)
    start_id, deadline, n = store.max_id(), time.monotonic() + timeout, itertools.count()
    try:
        while store.scans_after(start_id) == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the consumer recorded no probe scan in 30 s")
            step = Planner(random.Random()).follow_up(journey, datetime.now(UTC))
            message = next(traffic([replace(journey, steps=(step,))], random.Random(), duplicates=0,
                                   malformed=0, misroutes=0, new_id=lambda: f"probe.{next(n)}"))  # fmt: skip
            publisher.send(message.topic, message.payload)
            time.sleep(0.5)
    finally:
        publisher.close()


def forget_session(host: str, port: int, client_id: str) -> None:
    """Remove the consumer's persistent session (7 days by default) from the
    broker: connect with its client id, a clean start and no expiry."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    try:
        client.connect(host, port, clean_start=True)
        client.loop_start()
        time.sleep(0.3)
        client.disconnect()
        client.loop_stop()
    except OSError:
        pass


# -- stages ---------------------------------------------------------------------------------


@dataclass
class StageResult:
    label: str
    offered: float
    seconds: float
    sent: dict[str, Any]
    recorded: int = 0
    lost: int = 0
    repeated: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    waiting_ms: list[float] = field(default_factory=list)
    writing_ms: list[float] = field(default_factory=list)
    recorded_rate: float = 0.0
    drain: float = 0.0
    batches: list[int] = field(default_factory=list)
    dropped: int | None = None
    letters: int = 0  # dead letters stored during the stage
    cpu: dict[str, float] = field(default_factory=dict)
    rss_mb: float = 0.0

    @property
    def publish_rate(self) -> float:
        return self.sent["published"] / max(self.sent["last"] - self.sent["first"], 1e-9)


class Bench:
    def __init__(self, publishers: Publishers, timeline: Timeline, store: Store, consumers: list[Consumer],
                 meter: CpuMeter, stats: BrokerStats | None) -> None:  # fmt: skip
        self.publishers = publishers
        self.timeline = timeline
        self.store = store
        self.consumers = consumers
        self.meter = meter
        self.stats = stats
        self.dropped = stats.fresh() if stats else None
        self.malformed = 0
        self.letters = store.dead_letters()
        self.quiet = 5.0
        self.peaks: dict[str, tuple[int, int]] = {}  # party -> (peak RSS kB, processes)

    def note_peaks(self) -> None:
        for name, (kb, count) in self.meter.peak_rss_kb().items():
            if kb >= self.peaks.get(name, (0, 0))[0]:
                self.peaks[name] = (kb, count)

    def stage(self, kind: str, name: str, label: str, rate: float, seconds: float | None,
              during: Any = None) -> StageResult:  # fmt: skip
        progress(f"{label}: {f'{rate:,.0f} messages/s' if rate else 'as fast as possible'}"
                 f"{f', {seconds:.0f} s' if seconds else ''}")  # fmt: skip
        start_id = self.timeline.last_id
        before = self.meter.read()
        held_before = self.stats.stored if self.stats is not None else None
        self.publishers.start(kind, name, rate, seconds)
        if during is not None:
            during()
        sent = self.publishers.results()
        self.malformed += sent["malformed"]
        result = StageResult(label, rate, seconds or 0.0, sent)
        if not sent["drained"]:
            warn(f"{label}: not every message had its PUBACK within 120 s")
        ids = sent["scan_ids"]
        after = self.wait_recorded(start_id, len(ids), label, self.quiet, held_before or 0)
        result.cpu = self.meter.used(before, after)
        deadline = time.monotonic() + 3  # dead letters are committed just after their batch's scans
        while self.store.dead_letters() < self.letters + sent["malformed"] and time.monotonic() < deadline:
            time.sleep(0.1)
        letters = self.store.dead_letters()
        result.letters, self.letters = letters - self.letters, letters
        result.rss_mb = sum(c.rss_kb() for c in self.consumers) / 1024
        self.note_peaks()
        self.measure(result, start_id, ids)
        if self.stats is not None:
            dropped = self.stats.fresh()
            if dropped is not None and self.dropped is not None:
                result.dropped = dropped - self.dropped
            self.dropped = dropped
        return result

    def wait_recorded(self, start_id: int, expected: int, label: str, quiet: float = 5.0,
                      held_before: int = 0) -> dict[str, Any]:  # fmt: skip
        """Until the stage's scans are all in, or for ``quiet`` s nothing new
        was recorded and the broker's store did not shrink (a consumer busy
        with a long backlog on a loaded machine is not a lost scan). Returns
        the CPU reading taken when the last of them came."""
        last, last_change, reading = -1, time.monotonic(), self.meter.read()
        stored = self.stats.stored if self.stats is not None else None
        while True:
            count = self.store.scans_after(start_id)
            if count != last:
                last, last_change, reading = count, time.monotonic(), self.meter.read()
            held = self.stats.stored if self.stats is not None else None
            if held is not None and stored is not None and held < stored:
                last_change = time.monotonic()  # the broker is still handing over its backlog
            stored = held
            if count >= expected or time.monotonic() - last_change > quiet:
                if count < expected and held is not None and held > held_before:
                    warn(f"{label}: stopped waiting with {expected - count:,} scans unrecorded while the "
                         f"broker held {held - held_before:,} more messages than before the stage")  # fmt: skip
                return reading
            if not all(c.alive() for c in self.consumers):
                warn(f"{label}: a consumer exited:\n{self.consumers[0].tail()}")
                return reading
            time.sleep(0.1)

    def measure(self, result: StageResult, start_id: int, ids: list[str]) -> None:
        time.sleep(3 * POLL)  # the timeline has a sample past the last commit
        rows = self.store.rows_after(start_id)
        published = set(ids)
        counts = collections.Counter(r.scan_id for r in rows if r.scan_id in published)
        result.recorded = len(counts)
        result.lost = len(published) - len(counts)
        result.repeated = sum(n - 1 for n in counts.values() if n > 1)
        if result.lost:
            warn(f"{result.label}: {result.lost:,} of {len(published):,} valid scans published were "
                 f"not recorded (e.g. {next(iter(published - counts.keys()))})")  # fmt: skip
        if result.repeated:
            warn(f"{result.label}: {result.repeated:,} scans recorded more than once")
        if result.letters != result.sent["malformed"] and not result.lost:
            warn(f"{result.label}: {result.letters:,} dead letters for {result.sent['malformed']:,} "
                 "malformed messages")  # fmt: skip
        seen_last = 0.0
        batches: collections.Counter[int] = collections.Counter()
        for row in rows:
            if row.scan_id not in published:
                continue
            stamp = int(row.scan_id.rsplit(".", 1)[1]) / 1e6
            seen = self.timeline.seen_at(row.notification_id)
            command = datetime.fromisoformat(row.timestamp).timestamp()
            result.latencies_ms.append((seen - stamp) * 1e3)
            result.waiting_ms.append((command - stamp) * 1e3)
            result.writing_ms.append((seen - command) * 1e3)
            seen_last = max(seen_last, seen)
            batches[row.xid] += 1
        result.batches = list(batches.values())
        if result.recorded:
            result.recorded_rate = result.recorded / (seen_last - result.sent["first"])
            result.drain = max(0.0, seen_last - result.sent["last"])


# -- profile --------------------------------------------------------------------------------

# Parts of the ingest path, by a function on the stack (first match wins).
PARTS = (
    ("dead letters", ".add (adapters/deadletters.py)"),
    ("encode events (mapper)", ".to_stored_event (tracking/mapper.py)"),
    ("event store: insert + commit", "._record (eventsourcing/application.py)"),
    ("event store: version pre-check", ".evict_stale (tracking/unitofwork.py)"),
    ("event store: load (cold)", ".reconstruct (tracking/unitofwork.py)"),
    ("domain: Shipment.record_scan", ".record_scan (tracking/shipment.py)"),
    ("record_scans: the rest", ".record_updates (tracking/shipments.py)"),
    ("parse + validate", ".parse (mqtt/consumer.py)"),
    ("acks (worker thread)", ".ack (mqtt/client.py)"),
    ("metrics", ".inc (http/metrics.py)"),
    ("take a batch (queue)", "._take (mqtt/consumer.py)"),
    ("paho network thread: on_message", "._on_message (mqtt/consumer.py)"),
    ("paho network thread: the rest", "._thread_main (mqtt/client.py)"),
)


def py_spy_binary(given: str | None) -> str | None:
    for candidate in (given, os.environ.get("PY_SPY"), shutil.which("py-spy")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


Profile = tuple[StageResult, collections.Counter[str], collections.Counter[str], int]


def profile_consumer(bench: Bench, binary: str, rate: float, seconds: float, workdir: Path) -> Profile:
    """py-spy samples the consumer during a stage: 100 Hz, the thread that
    holds the GIL. It pauses the process for each sample (without that, its
    stacks are sometimes wrong), so this stage's figures are a little low."""
    out = workdir / "py-spy.txt"
    spy: list[subprocess.Popen[bytes]] = []

    def start_spy() -> None:
        spy.append(subprocess.Popen(
            [binary, "record", "--pid", str(bench.consumers[0].pid), "--rate", "100", "--gil",
             "--duration", str(int(seconds)), "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        ))  # fmt: skip

    result = bench.stage("stage", "profile", "profiled", rate, seconds, during=start_spy)
    own: collections.Counter[str] = collections.Counter()
    parts: collections.Counter[str] = collections.Counter()
    total = 0
    try:
        spy[0].wait(seconds + 30)
        lines = out.read_text().splitlines() if out.exists() else []
    except subprocess.TimeoutExpired:
        spy[0].kill()
        lines = []
    if not lines:
        why = spy[0].stderr.read().decode()[-300:] if spy and spy[0].stderr else ""
        warn(f"py-spy produced nothing: {why}")
    for line in lines:
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [short(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        part = next((name for name, mark in PARTS if any(f.endswith(mark) for f in frames)), "other")
        parts[part] += n
    return result, own, parts, total


def short(frame: str) -> str:
    """'func (/path/to/pkg/module.py:12)' -> 'func (pkg/module.py)'."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    func, path = match.groups()
    return f"{func} ({'/'.join(Path(path).parts[-2:])})"


# -- report ---------------------------------------------------------------------------------


def ms(values: Sequence[float]) -> str:
    if not values:
        return f"{'-':>7} {'-':>7} {'-':>7}"
    return f"{percentile(values, 0.5):7.0f} {percentile(values, 0.99):7.0f} {max(values):7.0f}"


def print_header(url: str, server: str, schema: str, broker: str, plan: Plan, quick: bool,
                 consumers: int) -> None:  # fmt: skip
    print(f"bench/ingest.py{'  --quick' if quick else ''}  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"  database   {url}  (PostgreSQL {server}, schema {schema} recreated)")
    print(f"  broker     {broker}")
    print(f"  software   Python {platform.python_version()}, eventsourcing {version('eventsourcing')}, "
          f"psycopg {version('psycopg')}, paho-mqtt {version('paho-mqtt')}, msgspec {version('msgspec')}; "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"  load       {plan.publishers} publisher processes (MQTT 3.1.1 on a plain socket, QoS 1, "
          f"<= {INFLIGHT:,} awaiting PUBACK each), paced open loop")  # fmt: skip
    print(f"  consumer   {consumers} x `tracking ingest` (batch_size 500, batch_ms 20, receive maximum "
          "1000, MQTT 5 shared subscription)")  # fmt: skip
    print(f"  bar        {BAR:,} scans/s sustained on 2 cores with nothing lost; aim {AIM:,}")


def print_ceiling(results: Sequence[CeilingResult]) -> None:
    print("\n(0) ceiling: publish -> receive at QoS 1 through the same broker, no database: a paho-mqtt")
    print("    subscriber (MQTT 5, receive maximum 1000, manual acks, as the consumer) that only acks")
    print(f"  {'offered':<17} {'published':>10} {'pub/s':>8} {'received':>9} {'recv/s':>8} {'lost':>7}"
          f"  {'latency ms: p50':>15} {'p99':>7} {'max':>7}   {'CPU us/msg: pub':>15} {'sub':>5}")  # fmt: skip
    for r in results:
        print(f"  {r.label:<17} {r.published:>10,} {r.publish_rate:>8,.0f} {r.received:>9,} "
              f"{r.receive_rate:>8,.0f} {r.published - r.received:>7,}  {ms(r.latencies_ms):>31}   "
              f"{r.publisher_us:>15.0f} {r.subscriber_us:>5.0f}")  # fmt: skip
    print("  publishers: the benchmark's own (MQTT 3.1.1 on a plain socket), or paho-mqtt's client;")
    print("  lost = published (PUBACK received) but never delivered: dropped by the broker")


def print_stages(results: Sequence[StageResult]) -> None:
    print("\n(1)+(2) end to end: publish -> recorded in PostgreSQL (consumer acks right after the commit)")
    print(f"  {'stage':<16} {'offered':>8} {'pub/s':>7} {'msgs':>8} {'valid':>8} {'recorded':>8} "
          f"{'rec/s':>7} {'lost':>6} {'twice':>5} {'drain s':>7}  {'latency ms: p50':>15} {'p99':>7} {'max':>7}"
          f"  {'bar':>6}")  # fmt: skip
    for r in results:
        offered = f"{r.offered:,.0f}" if r.offered else "max"
        verdict = verdict_of(r)
        print(f"  {r.label:<16} {offered:>8} {r.publish_rate:>7,.0f} {r.sent['published']:>8,} "
              f"{r.sent['valid']:>8,} {r.recorded:>8,} {r.recorded_rate:>7,.0f} {r.lost:>6,} {r.repeated:>5,} "
              f"{r.drain:>7.1f}  {ms(r.latencies_ms):>31}  {verdict:>6}")  # fmt: skip
    print("  offered/pub/s: messages/s (1% duplicates, 0.5% malformed); valid, recorded, rec/s: scans")
    print("  rec/s = recorded / (last commit seen - first publish); drain = last commit seen - last publish")
    print("  latency: publish (stamp in scan_id) -> commit seen by a 5 ms poll of max(notification_id)")
    print(f"  bar: LOST = scans lost or doubled; behind = all recorded but the backlog took > {KEPT_UP:.0f} s to")
    print(f"  drain (rec/s is then the capacity); kept = kept up; ok / aim = kept up at >= {BAR:,} / {AIM:,} scans/s")

    print("\n  where the latency goes (ms, p50 / p99): waiting = publish -> domain command (broker,")
    print("  consumer queue, batch wait, loading); writing = command -> commit seen (domain, insert, commit)")
    print(f"  {'stage':<16} {'waiting':>15} {'writing':>15}   {'batches':>7} {'scans/batch: mean':>17} "
          f"{'p50':>5} {'max':>5}   {'PUBACKs':>8} {'refused':>7} {'broker dropped':>14}")  # fmt: skip
    for r in results:
        b = r.batches
        mean = f"{sum(b) / len(b):,.0f}" if b else "-"
        dropped = "-" if r.dropped is None else f"{r.dropped:,}"
        print(f"  {r.label:<16} {percentile(r.waiting_ms, .5):>7.0f} / {percentile(r.waiting_ms, .99):<5.0f} "
              f"{percentile(r.writing_ms, .5):>7.0f} / {percentile(r.writing_ms, .99):<5.0f}   {len(b):>7,} "
              f"{mean:>17} {percentile(b, .5) if b else 0:>5.0f} {max(b, default=0):>5}   "
              f"{r.sent['acked']:>8,} {r.sent['refused']:>7,} {dropped:>14}")  # fmt: skip
    print("  batches = committed transactions of the consumer (rows grouped by xmin); a batch holds the")
    print("  new scans of up to 500 messages (duplicates and dead letters are not rows)")

    print("\n  CPU (% of one core over the stage, publishing + drain) and the consumer's memory")
    names = [k for k in results[0].cpu if k not in ("machine busy", "machine total")] if results else []
    print(f"  {'stage':<16} " + " ".join(f"{n:>13}" for n in names) + f" {'machine busy':>13} {'RSS MB':>7}")
    for r in results:
        wall = r.cpu.get("machine total", 0) / (os.cpu_count() or 1) or 1e-9
        cells = " ".join(f"{100 * r.cpu[n] / wall:>12.0f}%" for n in names)
        busy = 100 * r.cpu["machine busy"] / r.cpu["machine total"] if r.cpu.get("machine total") else 0
        print(f"  {r.label:<16} {cells} {busy:>12.0f}% {r.rss_mb:>7.0f}")


KEPT_UP = 1.0  # s: a stage whose backlog took longer than this to drain fell behind


def verdict_of(r: StageResult) -> str:
    """LOST: scans lost or doubled; behind: all recorded, but the backlog
    grew (the rate shown is the consumer's capacity); kept: kept up, below
    the bar; ok / aim: kept up at the bar / the aim."""
    if r.label.startswith(("warm", "prof")):
        return ""
    if r.lost or r.repeated:
        return "LOST"
    if r.drain > KEPT_UP:
        return "behind"
    return "aim" if r.recorded_rate >= AIM else "ok" if r.recorded_rate >= BAR else "kept"


def print_verdict(results: Sequence[StageResult], ceiling: Sequence[CeilingResult] = (),
                  peaks: dict[str, tuple[int, int]] | None = None) -> None:
    measured = [r for r in results if verdict_of(r)]
    kept = [r for r in measured if verdict_of(r) in ("kept", "ok", "aim")]
    best = max(kept, key=lambda r: r.recorded_rate, default=None)
    capacity = max((r.recorded_rate for r in measured if verdict_of(r) in ("behind", "LOST")), default=None)
    rate = best.recorded_rate if best else 0.0
    met = "MET" if rate >= BAR else "NOT MET"
    print(f"\nbar ({BAR:,} scans/s sustained, nothing lost): {met}; aim ({AIM:,}): "
          f"{'met' if rate >= AIM else 'not met'}")  # fmt: skip
    if best is not None:
        print(f"  sustained: {best.recorded_rate:,.0f} scans/s recorded at {best.label} offered, nothing lost "
              f"or doubled, backlog drained in {best.drain:.1f} s, p99 {percentile(best.latencies_ms, .99):,.0f} ms")
    if capacity is not None:
        print(f"  capacity when offered more: {capacity:,.0f} scans/s recorded (the consumer fell behind)")
    lossy = [r for r in measured if r.lost]
    if lossy:
        print("  lost: " + ", ".join(f"{r.label} {r.lost:,} of {r.sent['valid']:,}" for r in lossy)
              + " (dropped by the broker: see 'broker dropped')")
    # One line per figure, gathered by bench/all.py into RESULTS.md's table:
    # figure | measured | ceiling | x ceiling | bar | what holds it back
    raw = max((c.receive_rate for c in ceiling), default=0.0)
    if best is not None:
        at_capacity = max(measured, key=lambda r: r.recorded_rate)
        wall = at_capacity.cpu.get("machine total", 0) / (os.cpu_count() or 1) or 1e-9
        core = 100 * sum(v for k, v in at_capacity.cpu.items() if k.startswith("consumer")) / wall
        pg = 100 * at_capacity.cpu.get("postgres", 0) / wall
        print(f"summary: MQTT ingestion, sustained (QoS 1, publish -> recorded) | {rate:,.0f} scans/s, "
              f"p99 {percentile(best.latencies_ms, .99):,.0f} ms | {raw:,.0f} msgs/s (paho publish "
              f"-> receive, no database) | {rate / raw if raw else 0:.2f} | >= {BAR:,} scans/s: "
              f"{'met' if rate >= BAR else 'NOT met'} | the consumer's one Python core "
              f"({core:.0f}% of a core at {at_capacity.recorded_rate:,.0f} scans/s; PostgreSQL "
              f"{pg:.0f}%)")  # fmt: skip
    for name, (kb, count) in (peaks or {}).items():
        print(f"summary: peak RSS during ingestion, {name} | {kb / 1024:,.0f} MB"
              f"{f' (largest of {count})' if count > 1 else ''} | - | - | - | -")


def print_profile(own: collections.Counter[str], parts: collections.Counter[str], total: int,
                  result: StageResult) -> None:  # fmt: skip
    print(f"\n(3) where the consumer's time goes: py-spy --gil, 100 Hz, {result.offered:,.0f} messages/s "
          f"for {result.seconds:.0f} s: {total:,} samples of the thread holding the GIL (the paho network")
    print(f"    thread or the worker: they share it), i.e. {total / result.seconds:.0f}% of a core of Python")
    for name, n in parts.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("  top functions by own samples:")
    for name, n in own.most_common(15):
        print(f"  {100 * n / total:5.1f}%  {name}")


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test, < 60 s")
    parser.add_argument("--rate", help="offered rates, messages/s, comma separated; 0 = as fast as "
                                       "possible (2000,5000,7500,10000,0; --quick: 3000,0)")  # fmt: skip
    parser.add_argument("--duration", type=float, help="seconds per stage (15; --quick: 3)")
    parser.add_argument("--shipments", type=int, help="shipments to seed (5,000; --quick: 500)")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes (2)")
    parser.add_argument("--consumers", type=int, default=1,
                        help="`tracking ingest` processes sharing the subscription (1)")  # fmt: skip
    parser.add_argument("--mqtt-url", help="use this broker instead of a private Mosquitto "
                                           "(e.g. mqtt://127.0.0.1:1883; it sees 10,000 messages/s)")  # fmt: skip
    parser.add_argument("--broker-queue", type=int, help="the private broker's max_queued_messages "
                                                         "(Mosquitto's default: 1000; 0 = no limit)")  # fmt: skip
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                        help="profile the consumer with py-spy, if found (on by default)")  # fmt: skip
    parser.add_argument("--py-spy", help="the py-spy binary (default: $PY_SPY or py-spy on PATH)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    run_start = time.perf_counter()
    url = os.environ.get("TRACKING_BENCH_DATABASE_URL") or DEFAULT_URL
    if "schema=" not in (urlsplit(url).query or ""):
        sys.exit("bench: TRACKING_BENCH_DATABASE_URL needs ?schema=...: that schema is dropped every run")
    wait_for_other_benchmarks()
    settings = Settings(database_url=url)
    schema, server = reset_schema(settings)
    run = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-ingest-{run}-"))
    broker: PrivateBroker | None = None
    if args.mqtt_url:
        host, port, _, _ = Settings(mqtt_url=args.mqtt_url).broker_address()
        mqtt_url, broker_text = args.mqtt_url, f"{args.mqtt_url} (shared)"
    else:
        broker = PrivateBroker(workdir, args.broker_queue)
        host, port = "127.0.0.1", broker.port
        mqtt_url = f"mqtt://127.0.0.1:{port}"
        queue = "1000 (Mosquitto's default)" if args.broker_queue is None else f"{args.broker_queue:,}"
        broker_text = f"private {broker.version}, {mqtt_url}, max_queued_messages {queue}"
    print_header(url, server, schema, broker_text, plan, args.quick, args.consumers)

    spy = py_spy_binary(args.py_spy) if plan.profile else None
    publishers: Publishers | None = None
    consumers: list[Consumer] = []
    timeline: Timeline | None = None
    stats: BrokerStats | None = None
    store = Store(settings, schema)
    stages: list[StageResult] = []
    profiled = None
    try:
        now = datetime.now(UTC)
        progress(f"planning {plan.shipments:,} journeys; starting {plan.publishers} publisher processes")
        journeys = fleet(now, plan.shipments, SEED)
        publishers = Publishers(plan, host, port, now, run)
        ceiling = measure_ceiling(plan, publishers, host, port, run)

        progress(f"seeding {plan.shipments:,} shipments")
        booking, scanning, seed_scans = seed(settings, journeys)
        remaining = sum(len(j.steps) - seeded(i, j) for i, j in enumerate(journeys))
        print(f"\nseeded {plan.shipments:,} shipments in {booking:.1f} s (one booking per call, "
              f"{plan.shipments / booking:,.0f}/s) and their first {seed_scans:,} scans in {scanning:.1f} s; "
              f"{remaining:,} more scans of their journeys to come, then follow-ups")  # fmt: skip

        progress("starting `tracking ingest`")
        for index in range(args.consumers):
            consumers.append(Consumer(url, mqtt_url, run, index, workdir / f"ingest-{index}.log"))
        for consumer in consumers:
            consumer.wait_connected()
        timeline = Timeline(settings, schema)
        probe(host, port, journeys[0], store)
        stats = BrokerStats(host, port, interval=1.0 if broker else 10.0)
        meter = CpuMeter({
            "consumer" if len(consumers) == 1 else "consumers": lambda: [c.pid for c in consumers],
            "postgres": lambda: pids_named("postgres"),
            "broker": lambda: [broker.process.pid] if broker else pids_named("mosquitto"),
            "publishers": lambda: publishers.pids,
        })  # fmt: skip
        bench = Bench(publishers, timeline, store, consumers, meter, stats)
        bench.quiet = plan.quiet
        stages.append(bench.stage("warmup", "warm", "warm-up (cold)", plan.warm_rate, None))
        for rate in plan.rates:
            label = f"{rate:,.0f}/s" if rate else "max"
            stages.append(bench.stage("stage", f"r{rate:.0f}", label, rate, plan.duration))
        if plan.profile and spy:
            rate, seconds = plan.profile
            profiled = profile_consumer(bench, spy, rate, seconds, workdir)
            stages.append(profiled[0])
        elif plan.profile:
            print("\n  (no py-spy on PATH: pass --py-spy or set PY_SPY to profile the consumer)")

        letters = store.dead_letters()
        repeated = store.repeated_scan_ids()
        for consumer in consumers:
            consumer.rss_kb()
            code = consumer.stop()
            if code not in (0, None):
                warn(f"tracking ingest exited with {code}:\n{consumer.tail()}")

        print_ceiling(ceiling)
        print_stages(stages)
        peaks = ", ".join(f"{c.peak_rss_kb / 1024:,.0f} MB" for c in consumers)
        print(f"\n  consumer peak RSS (VmHWM): {peaks}")
        print("  peak RSS of each process over the run (VmHWM, the largest of each party's processes):")
        for name, (kb, count) in bench.peaks.items():
            what = f"{count} processes, the largest" if count > 1 else "1 process"
            print(f"    {name:<12} {kb / 1024:>8,.0f} MB  ({what})")
        print("    (a PostgreSQL backend's peak includes the shared buffers it touched: "
              f"shared_buffers is {store.shared_buffers()})")
        if profiled:
            print_profile(profiled[1], profiled[2], profiled[3], profiled[0])

        print_verdict(stages, ceiling, bench.peaks)
        print()
        malformed = bench.malformed
        if repeated:
            warn(f"scan_ids recorded more than once: {repeated[:5]}")
        if broker is not None and broker.drop_lines():
            print(f"broker log: {len(broker.drop_lines()):,} lines about dropped messages, e.g. "
                  f"{broker.drop_lines()[0]}")  # fmt: skip
        valid = sum(s.sent["valid"] for s in stages)
        lost = sum(s.lost for s in stages)
        if not WARNINGS:
            print(f"check: all {valid:,} valid scans published were recorded exactly once; "
                  f"{letters:,} dead letters for {malformed:,} malformed messages")  # fmt: skip
        else:
            print("\n".join(WARNINGS))
            print(f"check: {valid - lost:,} of {valid:,} valid scans recorded; {letters:,} dead letters for "
                  f"{malformed:,} malformed messages")  # fmt: skip
    finally:
        for consumer in consumers:
            if consumer.alive():
                consumer.stop()
            forget_session(host, port, consumer.client_id)
        if publishers is not None:
            publishers.stop()
        for closable in (timeline, stats):
            if closable is not None:
                try:
                    closable.stop() if isinstance(closable, Timeline) else closable.close()
                except Exception:  # noqa: BLE001 - tidying up after a failure
                    pass
        store.close()
        if broker is not None:
            broker.stop()
    print(f"total run time {time.perf_counter() - run_start:.0f} s  (logs: {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
