"""Notifications on PostgreSQL, with the processes as deployed: this one
records the scans through the service, ``tracking project`` decides the
outbox, ``tracking notify`` delivers over loopback HTTP to a real receiver
(a process of its own: an asyncio HTTP/1.1 server on 100 ports, noting
each arrival's port, tracking number and wall-clock time).

Four figures, each beside its ceiling measured in the same run:

1. latency: N shipments booked, then one RECEIVED scan each (a status
   change: one ``shipment.status_changed`` message to one receiver) offered
   at ``--rate`` in batches every 20 ms; p50/p99 of receiver arrival minus
   the scan's commit. Ceiling: a bare signed POST to the same receiver
   (httpx, one at a time), and how late the outbox view itself was.
2. ingestion cost: closed-loop ``record_scans`` (batches of 50: the six
   later scans of a quarter of the shipments each run), alternately with
   a runner keeping every view but the outbox and no sender (A), and with
   ``tracking project`` keeping them all and ``tracking notify`` delivering
   (B), twice each; the other side's processes are stopped (SIGSTOP, once
   idle). Ceiling: A itself; the bar is B >= 0.9 A.
3. deliveries/s to one fast receiver: the sender stopped while a backlog
   of ``--drain`` messages is decided, then let go; first to last arrival.
   Ceiling: the receiver's raw rate from plain httpx (a pooled client) with
   as many requests in flight as the sender allows a receiver (8).
4. deliveries/s to 100 receivers: 99 more subscriptions, each to a port of
   its own; ``--fanout`` shipments' next change makes 100 messages each.
   Ceiling: plain httpx, 64 in flight (the sender's total) over the 100
   ports, a pooled client per port (as the sender has).

Run:
    .venv/bin/python bench/notify.py                   # 2,000 scans at 1,000/s
    .venv/bin/python bench/notify.py --scans 5000 --rate 1000 --drain 3000

Database: TRACKING_BENCH_DATABASE_URL, by default
postgresql://postgres@127.0.0.1:5432/test?schema=bench_notify (the schema is
DROPPED and recreated every run). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.composition import build_runner, build_service, build_view_store  # noqa: E402
from adapters.notify import signing  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from projections import outbox, shipments  # noqa: E402
from projections.registry import READ_MODELS  # noqa: E402
from tests.builders import AGENT, HK_STO, booking, scan  # noqa: E402
from tracking.identifiers import TrackingNumber  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_notify"
PORTS = 100
# The scans after RECEIVED on the booked route, in order: each shipment's
# later changes, for the ingestion and drain phases.
LATER = [("LOADED", "HKHKG", 3, 6, "V100"), ("UNLOADED", "USLAX", 9, 0, "V100"),
         ("LOADED", "USLAX", 10, 0, "R200"), ("UNLOADED", "USNYC", 13, 0, "R200"),
         ("LOADED", "USNYC", 14, 0, "A300"), ("UNLOADED", "SESTO", 15, 0, "A300"),
         ("OUT_FOR_DELIVERY", "SESTO", 15, 8, None), ("DELIVERED", "SESTO", 15, 12, None)]
BODY = b'{"type":"x","timestamp":"2026-01-01T00:00:00Z","data":{"tracking_number":"CEIL"}}'


def receive(out: str) -> None:
    """The receiver process: PORTS listening sockets, HTTP/1.1 keep-alive,
    200 to every POST; the ports on the first line of ``out``, then one
    line an arrival: port, tracking number, time."""
    log = open(out, "w")  # noqa: SIM115 - open until killed

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = writer.get_extra_info("sockname")[1]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                now = time.time()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                i = body.find(b'"tracking_number":"') + 19
                tn = body[i : body.index(b'"', i)].decode()
                log.write(f"{port} {tn} {now}\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve() -> None:
        servers = [await asyncio.start_server(handle, "127.0.0.1", 0) for _ in range(PORTS)]
        log.write(" ".join(str(s.sockets[0].getsockname()[1]) for s in servers) + "\n")
        while True:
            log.flush()
            await asyncio.sleep(0.1)

    asyncio.run(serve())


class Arrivals:
    """The receiver process, and what arrived."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.process = subprocess.Popen([sys.executable, __file__, "--receive", str(out)])
        while not out.exists() or not out.read_text().endswith("\n"):
            time.sleep(0.05)
        ports = out.read_text().splitlines()[0].split()
        self.urls = [f"http://127.0.0.1:{p}/hook" for p in ports]

    def lines(self) -> list[tuple[str, str, float]]:
        found = []
        for line in self.out.read_text().splitlines()[1:]:
            parts = line.split(" ")
            if len(parts) == 3:
                found.append((parts[0], parts[1], float(parts[2])))
        return found

    def first(self) -> dict[str, float]:
        """When each tracking number's first message arrived (port 0's)."""
        found: dict[str, float] = {}
        for _, tn, when in self.lines():
            found.setdefault(tn, when)
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


def bare_posts(url: str, rounds: int = 300) -> list[float]:
    """Bare signed POSTs to the receiver, one at a time: seconds each."""
    took = []
    with httpx.Client() as client:
        for i in range(rounds):
            start = time.monotonic()
            client.post(url, content=BODY, headers=signing.headers(
                f"msg_{i}", int(time.time()), BODY, ["whsec_" + "A" * 32]))
            took.append(time.monotonic() - start)
    return took


def raw_rate(urls: list[str], in_flight: int, requests: int) -> float:
    """Requests/s plain httpx gets from the receiver, ``in_flight`` at a
    time spread over ``urls`` (a pooled client per URL, as the sender has
    one per receiver), each signed as a webhook is."""

    async def run() -> float:
        per_url = max(1, in_flight // len(urls))
        limits = httpx.Limits(max_connections=per_url, max_keepalive_connections=per_url)
        clients = [httpx.AsyncClient(limits=limits) for _ in urls]
        todo = iter(range(requests))

        async def worker() -> None:
            for i in todo:
                await clients[i % len(urls)].post(
                    urls[i % len(urls)], content=BODY, headers=signing.headers(
                        f"msg_{i}", int(time.time()), BODY, ["whsec_" + "A" * 32]))

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        took = time.monotonic() - start
        for client in clients:
            await client.aclose()
        return requests / took

    return asyncio.run(run())


def wait_for(check: Callable[[], bool], timeout: float = 300.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def project_without_outbox() -> None:
    """A runner keeping every view but the outbox, until SIGTERM (phase A)."""
    settings = Settings.from_env()
    service = build_service(settings)
    models = [m for m in READ_MODELS if m is not outbox.READ_MODEL]
    store = build_view_store(settings, models)
    runner = build_runner(settings, service, store).start()
    print("ready", flush=True)
    stopped = False

    def stop(*_: object) -> None:
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGTERM, stop)
    while not stopped and runner.running:
        time.sleep(0.1)
    runner.stop()
    store.close()
    service.close()


class Bench:
    def __init__(self, args: argparse.Namespace, url: str) -> None:
        self.args = args
        self.settings = Settings.from_env({"TRACKING_DATABASE_URL": url,
                                           "TRACKING_WEBHOOKS_ALLOW_PRIVATE": "true"})
        reset(self.settings)
        self.service = build_service(self.settings)
        self.store = build_view_store(self.settings)
        self.receiver = Arrivals(Path(tempfile.mkdtemp()) / "arrivals")
        self.env = {**os.environ, "TRACKING_DATABASE_URL": url,
                    "TRACKING_WEBHOOKS_ALLOW_PRIVATE": "true", "TRACKING_LOG_LEVEL": "WARNING"}
        self.tracking = str(Path(sys.executable).parent / "tracking")

    def subscribe(self, url: str) -> None:
        self.service.webhooks.create(url, ["shipment.status_changed"], "default", os.urandom(24),
                                    AGENT, allow_http=True)

    def start(self, *command: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(list(command), env=self.env)

    def views_at_end(self, *models: object) -> Callable[[], bool]:
        end = self.service.position()
        return lambda: all(self.store[m].position() >= end for m in models)  # type: ignore[index]

    def record(self, scans: list[tuple[str, object]]) -> None:
        self.service.record_scans([scan(e, loc, day, hour, voyage=v, tn=tn,
                                        scan_id=uuid.uuid4().hex)
                                   for tn, (e, loc, day, hour, v) in scans])  # type: ignore[misc]


def latency(b: Bench, numbers: list[str]) -> tuple[list[float], float, float]:
    """Phase 1: latencies, scans/s offered as achieved, outbox lag (s)."""
    committed: dict[str, float] = {}
    per_batch = max(1, round(b.args.rate / 50))  # every 20 ms
    start = time.monotonic()
    for n, first in enumerate(range(0, len(numbers), per_batch)):
        if (wait := start + n * 0.02 - time.monotonic()) > 0:
            time.sleep(wait)
        batch = numbers[first : first + per_batch]
        b.service.record_scans([scan("RECEIVED", "HKHKG", 3, tn=tn, scan_id=uuid.uuid4().hex)
                                for tn in batch])
        committed |= dict.fromkeys(batch, time.time())
    sent_for, last = time.monotonic() - start, time.monotonic()
    wait_for(b.views_at_end(outbox.READ_MODEL))
    lag = time.monotonic() - last
    wait_for(lambda: len(b.receiver.first().keys() & committed.keys()) >= len(numbers))
    arrived = b.receiver.first()
    return ([arrived[tn] - committed[tn] for tn in numbers if tn in arrived],
            len(numbers) / sent_for, lag)


def ingest(b: Bench, scans: list[tuple[str, object]]) -> float:
    """Closed-loop ingestion of ``scans``, 50 a batch: scans/s."""
    start = time.monotonic()
    for first in range(0, len(scans), 50):
        b.record(scans[first : first + 50])
    return len(scans) / (time.monotonic() - start)


def drain(b: Bench, notify: subprocess.Popen[bytes], scans: list[tuple[str, object]],
          expected: int) -> float:
    """Messages decided while the sender is stopped, then delivered: per s,
    first to last arrival."""
    os.kill(notify.pid, signal.SIGSTOP)
    seen = len(b.receiver.lines())
    for first in range(0, len(scans), 50):
        b.record(scans[first : first + 50])
    wait_for(b.views_at_end(outbox.READ_MODEL))
    os.kill(notify.pid, signal.SIGCONT)
    wait_for(lambda: len(b.receiver.lines()) - seen >= expected)
    times = sorted(t for _, tn, t in b.receiver.lines()[seen:] if tn != "CEIL")
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=1000.0, help="scans per second")
    parser.add_argument("--drain", type=int, default=2000, help="messages, one receiver")
    parser.add_argument("--fanout", type=int, default=60, help="shipments, 100 receivers")
    parser.add_argument("--receive", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--project-without-outbox", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        receive(args.receive)
        return
    if args.project_without_outbox:
        project_without_outbox()
        return
    url = os.environ.get("TRACKING_BENCH_DATABASE_URL", DEFAULT_URL)
    b = Bench(args, url)
    hook = b.receiver.urls[0]
    b.subscribe(hook)
    numbers = [f"BENCH{i:07d}" for i in range(args.scans)]
    warm = "BENCHWARM00"
    for tn in [warm, *numbers]:
        b.service.book(TrackingNumber(tn), booking(), HK_STO, AGENT)
    build_runner(b.settings, b.service, b.store).catch_up()
    project = b.start(b.tracking, "project")
    notify = b.start(b.tracking, "notify")
    without = subprocess.Popen([sys.executable, __file__, "--project-without-outbox"],
                               env=b.env, stdout=subprocess.PIPE)
    assert without.stdout is not None
    without.stdout.readline()  # started (its tables made): stopped until phase A
    wait_for(b.views_at_end(shipments.READ_MODEL))
    os.kill(without.pid, signal.SIGSTOP)
    # Warm up: the processes have started once a message has gone through.
    b.service.record_scans([scan("RECEIVED", "HKHKG", 3, tn=warm)])
    wait_for(lambda: warm in b.receiver.first())
    procs = [project, notify, without]
    try:
        latencies, offered, lag = latency(b, numbers)
        floor = bare_posts(hook)
        # Phase 2: the later scans, each shipment's six in order, a quarter
        # of the shipments each run: A B A B.
        todo = [(tn, s) for tn in numbers for s in LATER[:6]]
        quarter = len(todo) // 24 * 6
        rates: dict[str, list[float]] = {"A": [], "B": []}
        for run, side in enumerate("ABAB"):
            scans = todo[run * quarter : (run + 1) * quarter]
            if side == "A":
                wait_for(b.views_at_end(*READ_MODELS))
                for p in (project, notify):
                    os.kill(p.pid, signal.SIGSTOP)
                os.kill(without.pid, signal.SIGCONT)
                rates["A"].append(ingest(b, scans))
                wait_for(b.views_at_end(shipments.READ_MODEL))
                os.kill(without.pid, signal.SIGSTOP)
                for p in (project, notify):
                    os.kill(p.pid, signal.SIGCONT)
                wait_for(b.views_at_end(*READ_MODELS))  # the outbox catches up, not timed
            else:
                rates["B"].append(ingest(b, scans))
        wait_for(b.views_at_end(*READ_MODELS))
        # Phase 3: a backlog to the one receiver.
        step = LATER[6]
        one = drain(b, notify, [(tn, step) for tn in numbers[: args.drain]],
                    min(args.drain, len(numbers)))
        one_ceiling = raw_rate([hook], 8, 3000)
        # Phase 4: 99 more subscriptions, 100 receivers.
        for other in b.receiver.urls[1:]:
            b.subscribe(other)
        fan = drain(b, notify, [(tn, LATER[7]) for tn in numbers[: args.fanout]],
                    args.fanout * PORTS)
        fan_ceiling = raw_rate(b.receiver.urls, 64, 3000)
    finally:
        for p in procs:
            os.kill(p.pid, signal.SIGCONT)
            p.terminate()
            p.wait(timeout=60)
        b.receiver.stop()
    a, bb = statistics.median(rates["A"]), statistics.median(rates["B"])
    print(f"notify bench: {len(numbers)} scans offered at {offered:.0f}/s (asked "
          f"{args.rate:.0f}/s) on PostgreSQL, `tracking project` and `tracking notify` as "
          f"processes ({len(latencies)} webhooks received)")
    print(f"  scan commit -> receiver   p50 {statistics.median(latencies) * 1000:7.1f} ms   "
          f"p99 {percentile(latencies, 0.99) * 1000:7.1f} ms   (bar: p99 < 1000 ms)")
    print(f"    ceiling: bare signed POST p50 {statistics.median(floor) * 1000:.1f} ms, "
          f"p99 {percentile(floor, 0.99) * 1000:.1f} ms; the outbox view reached the last "
          f"scan {lag * 1000:.0f} ms after its commit")
    print(f"  ingestion, closed loop: {bb:,.0f} scans/s with the outbox and sender, "
          f"{a:,.0f} without (runs {', '.join(f'{r:.0f}' for r in rates['B'])} / "
          f"{', '.join(f'{r:.0f}' for r in rates['A'])}): x{bb / a:.2f} (bar: >= 0.90)")
    print(f"  one fast receiver: {one:,.0f} deliveries/s   ceiling: plain httpx, 8 in flight, "
          f"{one_ceiling:,.0f} requests/s (x{one / one_ceiling:.2f})")
    print(f"  {PORTS} receivers: {fan:,.0f} deliveries/s   ceiling: plain httpx, 64 in flight, "
          f"{fan_ceiling:,.0f} requests/s (x{fan / fan_ceiling:.2f})")
    if len(latencies) < len(numbers):
        print(f"  WARNING: {len(numbers) - len(latencies)} webhooks did not arrive")
    b.store.close()
    b.service.close()


if __name__ == "__main__":
    main()
