"""Replica benchmark, on a PostgreSQL 15 primary and streaming replica of its
own (tests/integration/replication.py: initdb, pg_basebackup -R, free
ports, a temporary directory; needs root, the servers run as ``postgres``):

  (1) reads: closed-loop GET /api/v1/track/{n} (``--connections``, each
      sending its next request on the answer) against `tracking serve` with
      2 worker processes reading the views from the replica
      (TRACKING_DATABASE_READ_URL), then the same against 2 workers reading
      the primary: requests/s of each; the primary's is the ceiling;
  (2) replication lag at a steady scan rate, through the ingest's write
      path: ``--writers`` processes, each a ShipmentService warm on its own
      share of the shipments, recording ``--scan-batch`` scans per
      ``record_scans`` call; first flat out (the same run's ceiling, scans/s),
      then paced to ``--scan-rate`` scans/s together. The lag of a commit is
      its time to the first sample of the replica's newest log position at or
      past the position it committed (one connection asking as fast as it
      can); the same sampling of the primary is the measurement's floor;
      pg_stat_replication.replay_lag sampled beside them. Offered and
      achieved rates are printed;
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
    .venv/bin/python bench/replica.py --phases lag,failover --duration 15   # 5,000 scans/s, batches of 100
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import random
import statistics
import sys
import multiprocessing
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reads import Connection, get_request  # noqa: E402 (bench/reads.py)
from store import RawTable, raw_rows, sample_payloads  # noqa: E402 (bench/store.py)

from adapters.composition import build_runner, build_service, build_view_store  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from tests.faults.conftest import FAULT_TOKENS, Process, Traffic  # noqa: E402
from tests.integration.failover import HttpScanner  # noqa: E402
from tests.integration.replication import Pair, missing  # noqa: E402
from tests.ports import free_port, listening  # noqa: E402
from tests.waiting import eventually  # noqa: E402
from tracking.identifiers import shipment_id  # noqa: E402
from tracking.shipment import Shipment  # noqa: E402

# the tokens tests.faults.conftest.Process gives the processes it starts
DEVICE_TOKEN = next(t for t, role in FAULT_TOKENS.items() if role == "device")
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


def write_scans(settings_url: str, scans: list[dict[str, object]], batch: int, rate: float,
                duration: float, ready: Any) -> tuple[list[tuple[float, int]], int, float]:
    """One writer process (as one ingest consumer would be): its own
    ShipmentService, warm on its own shipments, recording ``batch`` scans at a
    time through ``record_scans`` (the ingest's batched write path), paced to
    ``rate`` scans/s (0: as fast as it can) for ``duration`` s from when
    every writer is warm (``ready``, a barrier). Each commit's time and
    the log position it reached; scans recorded; seconds taken."""
    from adapters.wire import ScanIn, to_scan

    decoder = msgspec.json.Decoder(ScanIn)
    service = build_service(Settings(database_url=settings_url))
    try:
        def batch_of(i: int) -> list[object]:
            return [to_scan(decoder.decode(msgspec.json.encode(
                        {**scans[(i * batch + k) % len(scans)], "scan_id": uuid.uuid4().hex})))
                    for k in range(batch)]

        for i in range(max(1, len(scans) // batch)):  # warm: every shipment in the cache
            service.record_scans(batch_of(i))  # type: ignore[arg-type]
        commits: list[tuple[float, int]] = []
        recorded = 0
        i = 0
        ready.wait()
        at = time.monotonic()
        while (now := time.monotonic()) < at + duration:
            if rate and (wait := at + i * batch / rate - now) > 0:
                time.sleep(wait)
            outcomes = service.record_scans(batch_of(i))  # type: ignore[arg-type]
            done = time.monotonic()
            recorded += sum(1 for o in outcomes if o.position is not None)
            commits.append((done, max((o.position or 0) for o in outcomes)))
            i += 1
        return commits, recorded, time.monotonic() - at
    finally:
        service.close()


def offer(settings: Settings, traffic: Traffic, args: argparse.Namespace, rate: float,
          duration: float) -> tuple[list[tuple[float, int]], float]:
    """``args.writers`` writer processes, each on its own share of the
    shipments, together at ``rate`` scans/s (0: flat out). Their commits and
    the scans/s recorded."""
    index = {tn: i for i, tn in enumerate(traffic.shipments)}
    shares = [[s for s in traffic.scans if index[str(s["tracking_number"])] % args.writers == w]
              for w in range(args.writers)]
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, ProcessPoolExecutor(args.writers, mp_context=spawn) as pool:
        ready = manager.Barrier(args.writers)
        done = [f.result() for f in [pool.submit(write_scans, settings.database_url, share,
                                                 args.scan_batch, rate / args.writers, duration,
                                                 ready)
                                     for share in shares]]
    commits = sorted(c for found, _, _ in done for c in found)
    return commits, sum(n for _, n, _ in done) / max(t for _, _, t in done)


def psycopg_ceiling(service: Any, settings: Settings, batch: int, seconds: float) -> float:
    """Rows/s into a table shaped like the event store on the same primary
    (streaming to the replica), written as its recorder writes them, with
    rows of the real recorded scans' size (bench/store.py's RawTable)."""
    conninfo, schema = settings.postgres_conninfo()
    payloads, rng = sample_payloads(service), random.Random(5)
    rows = 0
    with psycopg.connect(conninfo, autocommit=True) as conn:
        table = RawTable(conn, schema)
        try:
            end = time.monotonic() + seconds
            started = time.monotonic()
            while time.monotonic() < end:
                table.unnest_locked(raw_rows(payloads, batch, rng))
                rows += batch
            return rows / (time.monotonic() - started)
        finally:
            table.drop()


def phase_lag(pair: Pair, settings: Settings, replica_url: str, traffic: Traffic,
              args: argparse.Namespace) -> None:
    """Replication lag of the event store itself: each commit's log position
    (from record_scans' outcomes) against the newest position visible on the
    replica, sampled as fast as one connection can ask; the same sampling of
    the primary is the measurement's own floor."""
    rate, batch = args.scan_rate, args.scan_batch
    print(f"(2) replication lag, {args.writers} writer processes, record_scans in batches of "
          f"{batch} (the ingest's write path, warm aggregate caches)")
    _, ceiling = offer(settings, traffic, args, 0, min(args.duration, 5.0))
    service = build_service(settings)
    raw = psycopg_ceiling(service, settings, batch, min(args.duration, 5.0))
    print(f"    ceilings (same run): the write path flat out {ceiling:8.0f} scans/s recorded; "
          f"psycopg alone, {batch} rows/txn as the recorder writes (table lock, NOTIFY, "
          f"RETURNING), one connection: {raw:8.0f} rows/s")
    recorder: Any = service.recorder
    query = recorder.max_notification_id_statement
    replica_conninfo, schema = Settings(database_url=replica_url).postgres_conninfo()
    seen: dict[str, list[tuple[float, int]]] = {"primary": [], "replica": []}
    lags: list[float] = []
    stop = threading.Event()

    def sample(name: str, conninfo: str) -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while not stop.is_set():
                position = conn.execute(query, prepare=True).fetchone()[0] or 0  # type: ignore[index]
                seen[name].append((time.monotonic(), position))
                if name == "primary":
                    row = conn.execute("SELECT extract(epoch FROM replay_lag) "
                                       "FROM pg_stat_replication").fetchone()
                    if row and row[0] is not None:
                        lags.append(float(row[0]))
                stop.wait(0.001)

    samplers = [threading.Thread(target=sample, args=(name, url), daemon=True) for name, url in
                (("primary", settings.postgres_conninfo()[0]), ("replica", replica_conninfo))]
    for t in samplers:
        t.start()
    try:
        commits, achieved = offer(settings, traffic, args, rate, args.duration)
        end = max(p for _, p in commits)
        try:
            eventually(lambda: seen["replica"][-1][1] >= end, timeout=120,
                       what="the replica replays the last commit")
        except AssertionError as e:
            print(f"    ({e}: the lags below are of the commits that got there)")
    finally:
        stop.set()
        for t in samplers:
            t.join(5)
        service.close()

    def lag_on(name: str) -> list[float]:
        """Each commit's time to the first sample at or after it showing its
        position (the samples' positions only grow)."""
        times = [t for t, _ in seen[name]]
        positions = [p for _, p in seen[name]]
        found = []
        for t, position in commits:
            k = max(bisect.bisect_left(times, t), bisect.bisect_left(positions, position))
            if k < len(times):
                found.append(times[k] - t)
        return found

    floor, on_replica = lag_on("primary"), lag_on("replica")
    print(f"    offered {rate} scans/s for {args.duration:g} s: {achieved:8.0f} scans/s recorded "
          f"({achieved / ceiling:.2f} x the ceiling); {len(commits)} commits")
    print(f"    commit -> visible on the replica: p50 {ms(pct(on_replica, 0.5))}  "
          f"p99 {ms(pct(on_replica, 0.99))}  max {ms(max(on_replica, default=float('nan')))}"
          f"  ({len(on_replica)} of {len(commits)})")
    print(f"    commit -> visible on the primary (the sampling's floor): p50 {ms(pct(floor, 0.5))}"
          f"  p99 {ms(pct(floor, 0.99))}  ({len(seen['primary'])} and {len(seen['replica'])} "
          "samples)")
    print(f"    pg_stat_replication.replay_lag: p50 {ms(pct(lags, 0.5))}  p99 {ms(pct(lags, 0.99))}"
          f"  max {ms(max(lags, default=float('nan')))}  ({len(lags)} samples)")


def phase_failover(args: argparse.Namespace) -> None:
    pair = Pair(synchronous=True).start()
    try:
        schema = f"bench_failover_{uuid.uuid4().hex[:8]}"
        pair.schema_urls(schema)
        settings = Settings(database_url=f"{pair.failover_url}?schema={schema}",
                            http_port=free_port(), api_tokens=FAULT_TOKENS)
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

        scanner = HttpScanner(settings.http_port, DEVICE_TOKEN, traffic.scans).start(during)
        scanner.thread.join(900)
        if scanner.thread.is_alive():
            print(f"    WARNING: the scanner has not finished in 900 s: {len(scanner.acked)} of "
                  f"{len(traffic.scans)} acknowledged, {scanner.failures} failed tries")
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
    parser.add_argument("--scan-rate", type=int, default=5000)
    parser.add_argument("--scan-batch", type=int, default=100)
    parser.add_argument("--writers", type=int, default=2, help="writer processes for (2)")
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
            settings = Settings(database_url=primary, http_port=free_port(), api_tokens=FAULT_TOKENS)
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
