"""Replica benchmark, on a PostgreSQL 15 primary and streaming replica of its
own (tests/integration/replication.py: initdb, pg_basebackup -R, free
ports, a temporary directory; needs root, the servers run as ``postgres``):

  (1) reads: closed-loop GET /api/v1/track/{n} (``--connections``, each
      sending its next request on the answer) against `tracking serve` with
      2 worker processes reading the views from the replica
      (TRACKING_DATABASE_READ_URL), then the same against 2 workers reading
      the primary: requests/s of each; the primary's is the ceiling;
  (2) replication lag at a steady scan rate: POSTs of ``--scan-batch`` scans
      at ``--scan-rate`` scans/s while `tracking project` keeps the views;
      pg_stat_replication.replay_lag sampled every 20 ms (p50/p99/max), and
      each write's time from its 2xx to its position in the views on the
      primary (the ceiling) and on the replica;
  (3) failover (a synchronous pair): scans POSTed one by one, each until a
      2xx, as the primary is stopped dead and the replica promoted; every
      process has both hosts in TRACKING_DATABASE_URL. Reported: seconds of
      write unavailability (the longest gap between two 2xx answers), the
      promotion's own seconds (pg_ctl promote -w, its floor), and scans lost
      (acknowledged, not in the store) and doubled (bar: 0 and 0).

Nothing is asserted; one run of each phase. PostgreSQL, the servers and
this load generator share the machine's CPUs.

Run (as root):
    .venv/bin/python bench/replica.py --quick     # < 2 min
    .venv/bin/python bench/replica.py --duration 20 --scan-rate 5000 --scan-batch 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reads import Connection, get_request  # noqa: E402 (bench/reads.py)

from adapters.composition import build_runner, build_service, build_view_store  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from tests.faults.conftest import Process, Traffic  # noqa: E402
from tests.integration.failover import HttpScanner  # noqa: E402
from tests.integration.replication import Pair, missing  # noqa: E402
from tests.ports import free_port, listening  # noqa: E402
from tests.waiting import eventually  # noqa: E402
from tracking.identifiers import shipment_id  # noqa: E402
from tracking.shipment import Shipment  # noqa: E402

TOKENS = {"bench-dev": "device"}
RATE_LIMIT = "100000000"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(value: float) -> str:
    return f"{value * 1000:8.1f} ms"


def seed(settings: Settings, shipments: int) -> Traffic:
    traffic = Traffic.make(shipments=shipments, per_shipment=2, seed=31)
    traffic.book(settings)
    service = build_service(settings)
    store = build_view_store(settings)
    try:
        build_runner(settings, service, store).catch_up()
    finally:
        store.close()
        service.close()
    return traffic


def serve(settings: Settings, *, read_url: str | None, workers: int = 2) -> Process:
    env = {"TRACKING_HTTP_WORKERS": str(workers), "TRACKING_RATE_LIMIT_PER_MINUTE": RATE_LIMIT,
           "TRACKING_LOG_LEVEL": "WARNING"}
    if read_url:
        env["TRACKING_DATABASE_READ_URL"] = read_url
    process = Process(settings, "serve", **env).start()
    eventually(lambda: listening(settings.http_port), timeout=90, what="the API listens")
    return process


async def closed_loop(port: int, paths: list[str], connections: int, duration: float) -> tuple[int, int]:
    """(2xx answers, others) in ``duration`` s, each connection sending on the answer."""
    host = f"127.0.0.1:{port}"
    ok = bad = 0
    end = time.perf_counter() + duration

    async def one() -> None:
        nonlocal ok, bad
        conn = Connection("127.0.0.1", port)
        rng = random.Random()
        while time.perf_counter() < end:
            try:
                status, _ = await conn.request(get_request(rng.choice(paths), host))
            except Exception:  # noqa: BLE001 - counted as an error
                status = 0
                conn.close()
            ok, bad = (ok + 1, bad) if 200 <= status < 300 else (ok, bad + 1)
        conn.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return ok, bad


def database_ceiling(url: str, ids: list[uuid.UUID], connections: int, duration: float) -> float:
    """Queries/s of the track endpoint's one query, straight from psycopg
    (``connections`` threads, each its own connection): the database's share."""
    schema = url.rpartition("schema=")[2]
    done = [0] * connections
    end = time.monotonic() + duration

    def one(k: int) -> None:
        with psycopg.connect(url.partition("?")[0], autocommit=True,
                             options=f"-c search_path={schema}") as conn:
            rng = random.Random(k)
            while time.monotonic() < end:
                conn.execute("SELECT public_view FROM shipment_views WHERE shipment_id = %s",
                             (rng.choice(ids),), prepare=True).fetchone()
                done[k] += 1

    threads = [threading.Thread(target=one, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / duration


def phase_reads(pair: Pair, settings: Settings, replica_url: str, traffic: Traffic,
                args: argparse.Namespace) -> None:
    paths = [f"/api/v1/track/{tn}" for tn in traffic.shipments]
    print(f"(1) closed-loop reads, {args.connections} connections, {args.duration:g} s each, "
          "tracking serve with 2 workers")
    results: dict[str, list[float]] = {"replica": [], "primary": []}
    for _ in range(args.rounds):  # alternated, so a burst of load elsewhere hits both
        for name, read_url in (("replica", replica_url), ("primary", None)):
            port = free_port()
            process = serve(replace(settings, http_port=port), read_url=read_url)
            try:
                asyncio.run(closed_loop(port, paths, args.connections, 1.0))  # warm up
                ok, bad = asyncio.run(closed_loop(port, paths, args.connections, args.duration))
            finally:
                process.stop()
            results[name].append(ok / args.duration)
            print(f"    views on the {name:8s}: {ok / args.duration:8.0f} requests/s  ({bad} errors)")
    rate = {name: statistics.median(found) for name, found in results.items()}
    ids = [shipment_id(tn) for tn in traffic.shipments]
    for name, url in (("replica", replica_url), ("primary", settings.database_url)):
        print(f"    psycopg alone, 4 connections, on the {name:8s}: "
              f"{database_ceiling(url, ids, 4, min(args.duration, 5.0)):8.0f} queries/s")
    print(f"    medians: replica {rate['replica']:.0f}, primary (the ceiling) {rate['primary']:.0f}; "
          f"replica / primary {rate['replica'] / rate['primary']:.2f}")


def phase_lag(pair: Pair, settings: Settings, replica_url: str, traffic: Traffic,
              args: argparse.Namespace) -> None:
    port = free_port()
    api = serve(replace(settings, http_port=port), read_url=None, workers=1)
    projector = Process(settings, "project", TRACKING_LOG_LEVEL="WARNING").start()
    primary_views = build_view_store(settings)
    replica_views = build_view_store(Settings(database_url=settings.database_url,
                                              database_read_url=replica_url), replica=True)
    samples: list[tuple[float, int, int]] = []  # (time, primary views, replica views)
    lags: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(pair.primary.url, autocommit=True) as conn:
            while not stop.is_set():
                samples.append((time.monotonic(), primary_views.position(), replica_views.position()))
                row = conn.execute("SELECT extract(epoch FROM replay_lag) FROM pg_stat_replication").fetchone()
                if row and row[0] is not None:
                    lags.append(float(row[0]))
                stop.wait(0.02)

    rate, batch = args.scan_rate, args.scan_batch
    posts = int(args.duration * rate / batch)
    written: list[tuple[float, int]] = []  # (time of the 2xx, position)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.monotonic()
    try:
        with httpx.Client(timeout=30) as client:
            url = f"http://127.0.0.1:{port}/api/v1/scans"
            for i in range(posts):
                due = start + i * batch / rate
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                scans = [{**traffic.scans[(i * batch + k) % len(traffic.scans)],
                          "scan_id": uuid.uuid4().hex} for k in range(batch)]
                r = client.post(url, json={"scans": scans},
                                headers={"Authorization": "Bearer bench-dev"})
                if r.status_code in (200, 201):
                    written.append((time.monotonic(), r.json()["position"]))
        elapsed = time.monotonic() - start
        try:
            eventually(lambda: bool(samples) and samples[-1][2] >= max(p for _, p in written),
                       timeout=120, what="the replica's views catch up")
        except AssertionError as e:
            print(f"    ({e}: the lags below are of the writes that got there)")
    finally:
        stop.set()
        sampler.join(5)
        primary_views.close()
        replica_views.close()
        projector.stop()
        api.stop()

    def lag_of(column: int) -> list[float]:
        found = []
        for t, position in written:
            reached = next((s[0] for s in samples if s[0] >= t and s[column] >= position), None)
            if reached is not None:
                found.append(reached - t)
        return found

    achieved = len(written) * batch / elapsed
    print(f"(2) replication lag, {rate} scans/s offered in POSTs of {batch} "
          f"({achieved:.0f} scans/s achieved, {args.duration:g} s)")
    print(f"    pg_stat_replication.replay_lag: p50 {ms(pct(lags, 0.5))}  p99 {ms(pct(lags, 0.99))}"
          f"  max {ms(max(lags, default=float('nan')))}  ({len(lags)} samples)")
    on_primary, on_replica = lag_of(1), lag_of(2)
    print(f"    writes: {len(written)} POSTs; in the primary's views {len(on_primary)}, "
          f"in the replica's {len(on_replica)}")
    print(f"    2xx -> views on the primary (ceiling): p50 {ms(pct(on_primary, 0.5))}  "
          f"p99 {ms(pct(on_primary, 0.99))}")
    print(f"    2xx -> views on the replica:           p50 {ms(pct(on_replica, 0.5))}  "
          f"p99 {ms(pct(on_replica, 0.99))}")


def phase_failover(args: argparse.Namespace) -> None:
    pair = Pair(synchronous=True).start()
    try:
        schema = f"bench_failover_{uuid.uuid4().hex[:8]}"
        pair.schema_urls(schema)
        settings = Settings(database_url=f"{pair.failover_url}?schema={schema}",
                            http_port=free_port(), api_tokens=TOKENS)
        traffic = Traffic.make(shipments=50, per_shipment=args.failover_scans // 50, seed=37)
        traffic.book(settings)
        processes = [serve(settings, read_url=None, workers=1),
                     Process(settings, "project", TRACKING_LOG_LEVEL="WARNING").start()]
        promote: list[float] = []

        def fail_over() -> None:
            pair.primary.stop("immediate")
            t = time.monotonic()
            pair.replica.promote()
            promote.append(time.monotonic() - t)

        switch = threading.Thread(target=fail_over)

        def during(i: int) -> None:
            if i == len(traffic.scans) // 3:
                switch.start()

        scanner = HttpScanner(settings.http_port, "bench-dev", traffic.scans).start(during)
        scanner.join(300)
        switch.join(60)
        gaps = [b - a for a, b in zip(scanner.answered_at, scanner.answered_at[1:], strict=False)]
        service = build_service(settings)
        try:
            recorded = Counter(e.scan.scan_id for tn in traffic.shipments
                               for e in service.events.get(shipment_id(tn))
                               if isinstance(e, Shipment.ScanRecorded))
        finally:
            service.close()
        for p in processes:
            p.stop()
    finally:
        pair.close()
    acked = {s for _, s in scanner.acked}
    lost = len(acked - set(recorded))
    doubled = sum(1 for n in recorded.values() if n > 1)
    print(f"(3) failover, {len(traffic.scans)} scans POSTed one by one (synchronous replica)")
    print(f"    write unavailability (longest gap between 2xx): {max(gaps):.2f} s; "
          f"pg_ctl promote itself (the floor): {promote[0]:.2f} s; median gap {ms(statistics.median(gaps))}")
    print(f"    acknowledged {len(acked)}, recorded {sum(recorded.values())}, failed tries "
          f"{scanner.failures}; lost {lost}, doubled {doubled} (bar: 0 and 0)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--shipments", type=int)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternated read runs of each")
    parser.add_argument("--scan-rate", type=int, default=1000)
    parser.add_argument("--scan-batch", type=int, default=50)
    parser.add_argument("--failover-scans", type=int, default=600)
    parser.add_argument("--phases", default="reads,lag,failover")
    args = parser.parse_args()
    args.duration = args.duration or (5.0 if args.quick else 15.0)
    reason = missing()
    if reason is not None:
        print(f"cannot start a replica here: {reason}", file=sys.stderr)
        return 2
    print(f"bench/replica.py on {os.cpu_count()} CPUs (loaded machine: compare the ratios)")
    phases = args.phases.split(",")
    if {"reads", "lag"} & set(phases):
        pair = Pair().start()
        try:
            schema = f"bench_replica_{uuid.uuid4().hex[:8]}"
            primary, replica = pair.schema_urls(schema)
            settings = Settings(database_url=primary, http_port=free_port(), api_tokens=TOKENS)
            traffic = seed(settings, args.shipments or (500 if args.quick else 2000))
            if "reads" in phases:
                phase_reads(pair, settings, replica, traffic, args)
            if "lag" in phases:
                phase_lag(pair, settings, replica, traffic, args)
        finally:
            pair.close()
    if "failover" in phases:
        phase_failover(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
