"""Broker throughput: QoS 1 messages/s through one node and across two,
for the brokers that can run here, started by this script on free ports.

- mosquitto, one node: a paho publisher and a paho subscriber (persistent
  session, QoS 1) on the same broker: **the ceiling** every other figure is
  divided by (measured in the same run);
- mosquitto bridge pair: published on node A, received on node B (A's
  ``scanners/#`` bridged to B at QoS 1);
- NATS (nats-server, MQTT over JetStream), one node; and a three-node
  cluster (two lose their quorum with either node), published on n1 and
  received on n1 (same node) and on n0 (across).

MQTT 3.1.1 everywhere (NATS speaks no MQTT 5). Each round publishes
``--messages`` scans-sized payloads (~300 bytes) as fast as the publisher
(bench/ingest.py's, on a plain socket) can with up to 1,000 awaiting
PUBACK, to one paho subscriber (a persistent session at QoS 1, as the
consumer), and times the first publish to the last message received; lost = PUBACKed but never received. Medians of
``--rounds``. Nothing is asserted. The machine is shared: read the ratios.

Run:  .venv/bin/python bench/brokers.py [--messages 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from ingest import LeanPublisher  # bench/ingest.py: this script runs from bench/
from paho.mqtt.enums import CallbackAPIVersion

TOPIC = "scanners/hkg/dock-7/scans"
PAYLOAD = (b'{"scan_id": "%s", "device_id": "dock-7", "tracking_number": "LX123456785CN", '
           b'"event": "RECEIVED", "location": "HKHKG", "occurred_at": "2026-11-20T08:00:00+08:00", '
           b'"voyage": "V100", "note": "' + b"x" * 120 + b'"}')
NATS = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def client(client_id: str, clean: bool) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                       clean_session=clean)


def subscriber_main(conn: Connection, port: int, expected: int, timeout: float) -> None:
    """Receives ``expected`` messages on ``port``; sends (first, last, count)."""
    seen = {"n": 0, "first": 0.0, "last": 0.0}
    sub = client(f"bench-sub-{uuid.uuid4().hex[:6]}", clean=False)

    def on_message(_: Any, __: Any, ___: Any) -> None:
        now = time.time()
        if not seen["n"]:
            seen["first"] = now
        seen["n"] += 1
        seen["last"] = now

    subscribed = {"ok": False}
    sub.on_message = on_message
    sub.on_connect = lambda c, *_: c.subscribe(TOPIC, qos=1)
    sub.on_subscribe = lambda *_: subscribed.update(ok=True)
    sub.connect("127.0.0.1", port, keepalive=30)
    sub.loop_start()
    while not subscribed["ok"]:
        time.sleep(0.05)
    time.sleep(0.5)
    conn.send("ready")
    deadline = time.monotonic() + timeout
    while seen["n"] < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    sub.loop_stop()
    sub.disconnect()
    conn.send((seen["first"], seen["last"], seen["n"]))


def publish(port: int, count: int) -> tuple[float, float, int]:
    """Publishes ``count`` messages at QoS 1 with bench/ingest.py's lean
    publisher (a plain socket: paho costs ~150 us of CPU a message, and
    would measure itself); (first publish, last PUBACK, PUBACKed)."""
    pub = LeanPublisher("127.0.0.1", port, f"bench-pub-{uuid.uuid4().hex[:6]}")
    started = time.time()
    for i in range(count):
        pub.send(TOPIC, PAYLOAD % str(i).encode())
    pub.drain(300)
    done = time.time()
    pub.close()
    return started, done, pub.acked


def one_round(pub_port: int, sub_port: int, count: int) -> dict[str, float]:
    parent, child = multiprocessing.Pipe()
    receiver = multiprocessing.Process(target=subscriber_main, args=(child, sub_port, count, 300))
    receiver.start()
    assert parent.poll(60) and parent.recv() == "ready"
    started, acked_at, acked = publish(pub_port, count)
    first, last, received = parent.recv()
    receiver.join(30)
    return {"msgs_s": received / max(1e-9, last - started), "acked": acked, "received": received,
            "lost": max(0, acked - received), "pub_s": acked / max(1e-9, acked_at - started)}


class Brokers:
    """The broker processes this run started (all stopped at the end)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []

    def run(self, argv: list[str], port: int, name: str) -> None:
        log = open(self.workdir / f"{name}.log", "ab")
        self.processes.append(subprocess.Popen(argv, stdout=log, stderr=log))
        wait_listening(port)

    def mosquitto(self, name: str, bridge_to: int | None = None) -> int:
        port = free_port()
        conf = self.workdir / f"{name}.conf"
        text = (f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                "persistence false\n")
        if bridge_to is not None:
            text += (f"connection {name}-bridge\naddress 127.0.0.1:{bridge_to}\n"
                     "topic scanners/# in 1\ncleansession false\n"
                     f"remote_clientid {name}-bridge\n")
        conf.write_text(text)
        self.run(["mosquitto", "-c", str(conf)], port, name)
        return port

    def nats(self, count: int) -> list[int]:
        assert NATS is not None
        routes = [free_port() for _ in range(count)]
        ports = [free_port() for _ in range(count)]
        tag = uuid.uuid4().hex[:6]
        for n in range(count):
            conf = self.workdir / f"nats{count}-{n}.conf"
            cluster = ("" if count == 1 else
                       f"cluster {{ name: b{tag}, listen: 127.0.0.1:{routes[n]}, routes: ["
                       + ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes) + "] }\n")
            conf.write_text(f"server_name: b{tag}{n}\nlisten: 127.0.0.1:{free_port()}\n"
                            f"jetstream {{ store_dir: {self.workdir}/js{tag}{n} }}\n{cluster}"
                            f"mqtt {{ listen: 127.0.0.1:{ports[n]} }}\n")
            log = open(self.workdir / f"nats{count}-{n}.log", "ab")
            self.processes.append(subprocess.Popen([NATS, "-c", str(conf)], stdout=log, stderr=log))
        for port in ports:
            wait_listening(port)
            self._sessions_ready(port)
        return ports

    @staticmethod
    def _sessions_ready(port: int, timeout: float = 60) -> None:
        """NATS answers MQTT only once JetStream is placed across the cluster."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok: dict[str, bool] = {}
            c = client(f"ready-{uuid.uuid4().hex[:6]}", clean=True)
            c.on_connect = lambda *a: ok.setdefault("ok", not a[3].is_failure)
            c.connect("127.0.0.1", port)
            c.loop_start()
            time.sleep(1)
            c.loop_stop()
            c.disconnect()
            if ok.get("ok"):
                return
        raise RuntimeError(f"NATS on {port} does not take MQTT sessions")

    def stop(self) -> None:
        for p in self.processes:
            p.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


@contextmanager
def brokers() -> Iterator[Brokers]:
    with tempfile.TemporaryDirectory(prefix="bench-brokers-") as tmp:
        b = Brokers(Path(tmp))
        try:
            yield b
        finally:
            b.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    version = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.split("\n")[0]
    nats_version = subprocess.run([NATS, "--version"], capture_output=True, text=True).stdout.strip() if NATS else "none"
    print(f"bench/brokers.py  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"  brokers   {version}; {nats_version}; started by this run on free loopback ports")
    print(f"  load      {args.messages:,} messages of {len(PAYLOAD % b'0')} bytes a round, QoS 1, "
          f"MQTT 3.1.1, <= 1,000 awaiting PUBACK, a lean publisher, a paho subscriber; {args.rounds} rounds, medians")
    print("  machine   2 cores SHARED with other work: read the x ceiling column")
    rows: list[tuple[str, list[dict[str, float]]]] = []
    with brokers() as b:
        setups: list[tuple[str, int, int]] = []
        one = b.mosquitto("mosq")
        setups.append(("mosquitto, one node (ceiling)", one, one))
        a = b.mosquitto("mosq-a")
        peer = b.mosquitto("mosq-b", bridge_to=a)
        setups.append(("mosquitto bridge pair, A -> B", a, peer))
        if NATS:
            [single] = b.nats(1)
            setups.append(("nats, one node", single, single))
            n0, n1, _ = b.nats(3)
            setups.append(("nats, 3-node cluster, same node", n1, n1))
            setups.append(("nats, 3-node cluster, across nodes", n1, n0))
        time.sleep(1)
        for name, pub, sub in setups:
            progress(f"{name}: {args.rounds} rounds")
            rows.append((name, [one_round(pub, sub, args.messages) for _ in range(args.rounds)]))
    ceiling = statistics.median(r["msgs_s"] for r in rows[0][1])
    print()
    print(f"  {'setup':<38} {'msgs/s':>8} {'min-max':>15} {'pub acks/s':>10} {'lost':>5} {'x ceiling':>9}")
    for name, results in rows:
        rates = [r["msgs_s"] for r in results]
        median = statistics.median(rates)
        print(f"  {name:<38} {median:>8,.0f} {min(rates):>7,.0f}-{max(rates):<7,.0f} "
              f"{statistics.median(r['pub_s'] for r in results):>10,.0f} "
              f"{int(sum(r['lost'] for r in results)):>5} {median / ceiling:>9.2f}")
    print("  msgs/s      received / (last received - first published), one subscriber")
    print("  pub acks/s  PUBACKs / (last PUBACK - first published)")
    print("  lost        PUBACKed and never received, over all rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
