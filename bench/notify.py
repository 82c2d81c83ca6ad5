"""Notification latency: from a scan's commit to the merchant's receiver
getting its webhook, on PostgreSQL, with the processes as deployed: this one
records the scans through the service, ``tracking project`` decides the
outbox, ``tracking notify`` delivers over loopback HTTP to a real receiver
(a process of its own). ``--one-process`` runs the runner and the sender in
this process instead, as ``tracking all`` does.

It books N shipments, then records one RECEIVED scan per shipment (each a
status change: one ``shipment.status_changed`` message) at a steady rate,
in batches every 20 ms as ingestion records them,
and prints p50/p99 of receiver arrival minus the scan's commit, and the
deliveries per second the sender achieved draining a backlog. Beside them,
measured in the same run, the ceiling: a bare signed POST to the same
receiver (httpx, one at a time), what no delivery can beat.

Run:
    .venv/bin/python bench/notify.py                      # 2,000 scans at 200/s
    .venv/bin/python bench/notify.py --scans 5000 --rate 1000

Database: TRACKING_BENCH_DATABASE_URL, by default
postgresql://postgres@127.0.0.1:5432/test?schema=bench_notify (the schema is
DROPPED and recreated every run). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.composition import build_runner, build_sender, build_service, build_view_store  # noqa: E402
from adapters.notify import signing  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from tests.builders import AGENT, HK_STO, booking, scan  # noqa: E402
from tracking.identifiers import TrackingNumber  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_notify"


def receive(out: str) -> None:
    """The receiver, in a process of its own (so that it does not share the
    sender's interpreter lock): writes its port, then each message's
    tracking number and wall-clock arrival time, one a line, to ``out``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            now = time.time()
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()
            tn = json.loads(body)["data"]["tracking_number"]
            with lock:
                log.write(f"{tn} {now}\n")
                log.flush()

        def log_message(self, *args: Any) -> None:
            pass

    lock = threading.Lock()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(out, "w") as log:
        log.write(f"{server.server_address[1]}\n")
        log.flush()
        server.serve_forever()


class Arrivals:
    """The receiver process, and when each shipment's message arrived."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.process = subprocess.Popen([sys.executable, __file__, "--receive", str(out)])
        while not out.exists() or not out.read_text().endswith("\n"):
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{out.read_text().splitlines()[0]}/hook"

    @property
    def at(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for line in self.out.read_text().splitlines()[1:]:
            tn, _, when = line.partition(" ")
            if when:
                found.setdefault(tn, float(when))
        return found

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def reset(settings: Settings) -> None:
    conninfo, schema = settings.postgres_conninfo()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def ceiling(url: str, rounds: int = 300) -> list[float]:
    """Bare signed POSTs to the receiver, one at a time: seconds each."""
    body = b'{"type":"x","timestamp":"2026-01-01T00:00:00Z","data":{"tracking_number":"CEIL"}}'
    secret = "whsec_" + "A" * 32
    took = []
    with httpx.Client() as client:
        for i in range(rounds):
            start = time.monotonic()
            client.post(url, content=body, headers=signing.headers(f"msg_{i}", int(time.time()),
                                                                   body, [secret]))
            took.append(time.monotonic() - start)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0, help="scans per second")
    parser.add_argument("--receive", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--one-process", action="store_true",
                        help="the runner and the sender in this process (as `tracking all`)")
    args = parser.parse_args()
    if args.receive:
        receive(args.receive)
        return
    url = os.environ.get("TRACKING_BENCH_DATABASE_URL", DEFAULT_URL)
    settings = Settings.from_env({"TRACKING_DATABASE_URL": url,
                                  "TRACKING_WEBHOOKS_ALLOW_PRIVATE": "true"})
    reset(settings)
    service = build_service(settings)
    store = build_view_store(settings)
    runner = build_runner(settings, service, store)
    receiver = Arrivals(Path(tempfile.mkdtemp()) / "arrivals")
    service.create_webhook(receiver.url, ["shipment.status_changed"], "default", os.urandom(24),
                           AGENT, allow_http=True)
    numbers = [f"BENCH{i:07d}" for i in range(args.scans)]
    for tn in numbers:
        service.book(TrackingNumber(tn), booking(), HK_STO, AGENT)
    runner.catch_up()
    processes: list[subprocess.Popen[bytes]] = []
    if args.one_process:
        runner.start()
        sender = build_sender(settings, service, store, poll_interval=0.02).start()
    else:
        env = {**os.environ, "TRACKING_DATABASE_URL": url,
               "TRACKING_WEBHOOKS_ALLOW_PRIVATE": "true", "TRACKING_LOG_LEVEL": "WARNING"}
        tracking = str(Path(sys.executable).parent / "tracking")
        processes = [subprocess.Popen([tracking, command], env=env)
                     for command in ("project", "notify")]

    committed: dict[str, float] = {}
    # Scans arrive in batches every 20 ms (as ingestion records them), at the rate asked.
    per_batch = max(1, round(args.rate / 50))
    start = time.monotonic()
    for b, first in enumerate(range(0, len(numbers), per_batch)):
        due = start + b * 0.02
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        batch = numbers[first : first + per_batch]
        service.record_scans([scan("RECEIVED", "HKHKG", 3, tn=tn, scan_id=uuid.uuid4().hex)
                              for tn in batch])
        committed |= dict.fromkeys(batch, time.time())
    sent_for = time.monotonic() - start
    last_scan, end = time.monotonic(), service.position()
    deadline = time.monotonic() + 120
    while store.position() < end and time.monotonic() < deadline:
        time.sleep(0.01)
    views_after = time.monotonic() - last_scan
    while len(arrived := receiver.at) < len(numbers) and time.monotonic() < deadline:
        time.sleep(0.2)
    drained = time.monotonic() - start
    latencies = [arrived[tn] - committed[tn] for tn in numbers if tn in arrived]
    if args.one_process:
        sender.stop()
        runner.stop()
    for process in processes:
        process.terminate()
        process.wait(timeout=30)

    floor = ceiling(receiver.url)
    receiver.stop()
    how = "runner and sender in this process" if args.one_process else \
        "`tracking project` and `tracking notify` in processes of their own"
    print(f"notify bench: {len(numbers)} scans at {len(numbers) / sent_for:.0f}/s on PostgreSQL, "
          f"{how} ({len(latencies)} webhooks received)")
    if latencies:
        print(f"  scan commit -> receiver   p50 {statistics.median(latencies) * 1000:7.1f} ms   "
              f"p99 {percentile(latencies, 0.99) * 1000:7.1f} ms   (bar: p99 < 1000 ms)")
    print(f"  delivered {len(latencies) / drained:.0f} webhooks/s to one receiver "
          f"({len(latencies)} in {drained:.1f} s from the first scan)")
    print(f"  the views (outbox among them) reached the last scan {views_after * 1000:.0f} ms "
          "after its commit")
    print(f"  ceiling: bare signed POST p50 {statistics.median(floor) * 1000:7.1f} ms   "
          f"p99 {percentile(floor, 0.99) * 1000:7.1f} ms")
    if len(latencies) < len(numbers):
        print(f"  WARNING: {len(numbers) - len(latencies)} webhooks did not arrive within 120 s")
    store.close()
    service.close()


if __name__ == "__main__":
    main()
