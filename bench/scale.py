"""Scale benchmark: the write path with nothing cached, at 10k, 100k and 1M
shipments of ~20 events each, beside a plain psycopg insert in the same run.

Seeding is fast and real: a few hundred shipments are made through the
domain (``Shipment.open``, ``book``, ``record_scan``) and stored through the
service's own mapper, then copied (COPY, binary) under new tracking numbers
into the event store's own table, event k of every shipment before event k+1
of any, so that a shipment's events sit on as many heap pages as it has
events, as when they are appended days apart. Each shipment's state row
(``tracking.recorded_state``, when the store keeps one) is copied likewise.

At each size it measures, on a service that has loaded nothing:

  (a) loading one shipment (``service.store.reconstruct([id])``): p50 / p99
      over shipments picked at random, each loaded once;
  (b) loading 100 shipments in one call (ms per batch);
  (c) recording scans in batches of 100, every scan into a shipment no
      service has cached (scans/s, median of rounds);
  (d) the ceiling, in the same run: psycopg alone, 100 rows per transaction
      (executemany, and unnest) into a table shaped like the event store;
  (e) memory: the RSS of this process before and after one service loads
      20,000 shipments more (what its cache holds: TRACKING_CACHE_BYTES);

and how many bytes the events take on disk (table, its indexes, the states).

Run:
    .venv/bin/python bench/scale.py                      # 10k and 100k
    .venv/bin/python bench/scale.py --sizes 10000,100000,1000000
    .venv/bin/python bench/scale.py --quick              # smoke test

Database: TRACKING_BENCH_SCALE_DATABASE_URL, by default
postgresql://postgres@127.0.0.1:5432/test?schema=bench_scale. The schema is
DROPPED and recreated at the start, and dropped at the end (unless --keep).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from adapters.settings import Settings  # noqa: E402
from store import (  # noqa: E402
    SEED, Journey, JourneyMaker, RawTable, chunks, conninfo, count_recorded, fresh_service,
    percentile, progress, reset_schema,
)
from tracking.application import ShipmentService  # noqa: E402
from tracking.identifiers import TrackingNumber, s10_check_digit, shipment_id  # noqa: E402
from tracking.shipment import Shipment  # noqa: E402
from tracking.unitofwork import replay  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench_scale"
SCANS_PER_SHIPMENT = 19  # with Opened and Booked: 21 events


@dataclass(frozen=True)
class Template:
    """One shipment made through the domain, as stored: its journey, its
    events' (topic, state) and its state row, under its own tracking number."""

    journey: Journey
    events: list[tuple[str, bytes]]
    state: tuple[int, bytes] | None  # (format version, bytes) of its state row, if kept
    id: uuid.UUID


def make_templates(service: ShipmentService, maker: JourneyMaker, count: int) -> list[Template]:
    now = datetime.now(UTC)
    templates = []
    for _ in range(count):
        journey = maker.make(SCANS_PER_SHIPMENT, now)
        shipment = Shipment.open(journey.tracking_number, journey.source)
        shipment.book(journey.booking, journey.route, journey.source)
        for scan in journey.scans:
            shipment.record_scan(scan, journey.source, now=now)
        stored = [service.mapper.to_stored_event(e) for e in shipment.collect_events()]
        templates.append(Template(
            journey, [(s.topic, s.state) for s in stored], state_row(service, shipment),
            shipment.id,
        ))  # fmt: skip
    return templates


def state_row(service: ShipmentService, shipment: Shipment) -> tuple[int, bytes] | None:
    """The shipment's state row as the store writes it, if it keeps them."""
    codec = getattr(service.store, "states", None)
    if codec is None:
        return None
    version, data = codec.encode(shipment)
    return version, data


def tracking_number(i: int, template: Template) -> str:
    """Shipment i's number: as long as its template's (so its stored bytes
    are the template's with the number replaced), never one of them."""
    digits = f"{i:08d}"
    return f"LZ{digits}{s10_check_digit(digits)}{template.journey.tracking_number[-2:]}"


class Fleet:
    """Shipments 0..n-1, each one of the templates under its own number."""

    def __init__(self, templates: list[Template]) -> None:
        self.templates = templates
        self.size = 0

    def template(self, i: int) -> Template:
        return self.templates[i % len(self.templates)]

    def journey(self, i: int) -> Journey:
        t = self.template(i)
        return replace(t.journey, tracking_number=TrackingNumber(tracking_number(i, t)))

    def event_rows(self, lo: int, hi: int) -> Iterator[tuple[uuid.UUID, int, str, bytes]]:
        """Every event of shipments lo..hi-1, event k of each before event k+1."""
        longest = max(len(t.events) for t in self.templates)
        names = [(shipment_id(tracking_number(i, self.template(i))), i) for i in range(lo, hi)]
        for k in range(longest):
            for sid, i in names:
                t = self.template(i)
                if k < len(t.events):
                    topic, state = t.events[k]
                    old = t.journey.tracking_number.encode()
                    yield sid, k + 1, topic, state.replace(old, tracking_number(i, t).encode())

    def state_rows(self, lo: int, hi: int) -> Iterator[tuple[uuid.UUID, int, int, bytes]]:
        for i in range(lo, hi):
            t = self.template(i)
            if t.state is None:
                continue
            tn = tracking_number(i, t)
            sid = shipment_id(tn)
            data = t.state[1].replace(t.journey.tracking_number.encode(), tn.encode())
            data = data.replace(str(t.id).encode(), str(sid).encode())
            yield sid, len(t.events), t.state[0], data


def grow(settings: Settings, schema: str, fleet: Fleet, size: int, states_table: str | None) -> float:
    """COPY shipments fleet.size..size-1 in; seconds taken."""
    start = time.perf_counter()
    lo = fleet.size
    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        table = sql.Identifier(schema, "tracking_events")
        statement = sql.SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ).format(table)
        with conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for row in fleet.event_rows(lo, size):
                copy.write_row(row)
        if states_table is not None:
            statement = sql.SQL(
                "COPY {} (id, version, format, state) FROM STDIN (FORMAT BINARY)"
            ).format(sql.Identifier(schema, states_table))
            with conn.cursor() as cur, cur.copy(statement) as copy:
                copy.set_types(["uuid", "int8", "int4", "bytea"])
                for row in fleet.state_rows(lo, size):
                    copy.write_row(row)
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
        if states_table is not None:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(schema, states_table)))
    fleet.size = size
    return time.perf_counter() - start


def disk(settings: Settings, schema: str, states_table: str | None) -> dict[str, int]:
    events = sql.Identifier(schema, "tracking_events")
    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        def one(query: sql.Composable, *params: Any) -> int:
            row = conn.execute(query, params).fetchone()
            return int(row[0]) if row else 0
        found = {
            "events": one(sql.SQL("SELECT count(*) FROM {}").format(events)),
            "heap": one(sql.SQL("SELECT pg_table_size(%s)"), f"{schema}.tracking_events"),
            "indexes": one(sql.SQL("SELECT pg_indexes_size(%s)"), f"{schema}.tracking_events"),
        }
        if states_table is not None:
            found["states"] = one(sql.SQL("SELECT pg_total_relation_size(%s)"),
                                  f"{schema}.{states_table}")
    return found


@dataclass
class Figures:
    size: int
    seed_s: float
    one_ms: list[float]
    replayed_ms: list[float]
    floor_ms: list[float]
    batch_ms: list[float]
    scans_per_s: list[float]
    recorded: int
    sent: int
    ceilings: dict[str, float]
    disk: dict[str, int]
    memory: list[float]  # loads, RSS before and after, cached count, bytes, budget


def untouched(rng: random.Random, fleet: Fleet, used: set[int], count: int) -> list[int]:
    """``count`` shipments no measurement has loaded yet."""
    picked: list[int] = []
    while len(picked) < count:
        i = rng.randrange(fleet.size)
        if i not in used:
            used.add(i)
            picked.append(i)
    return picked


def measure(settings: Settings, schema: str, fleet: Fleet, rng: random.Random, used: set[int],
            args: argparse.Namespace, states_table: str | None) -> tuple[list[float], ...]:
    service = fresh_service(settings)
    try:
        one = []
        for i in untouched(rng, fleet, used, args.loads):
            sid = shipment_id(fleet.journey(i).tracking_number)
            start = time.perf_counter()
            found = dict(service.store.reconstruct([sid]))
            one.append((time.perf_counter() - start) * 1000)
            if not isinstance(found.get(sid), Shipment):
                sys.exit(f"bench: shipment {i} did not load")
        # The same, replaying every event (what a load did before state
        # rows), and the floor: one plain psycopg query of the same row(s).
        replayed = []
        to_domain_event = service.mapper.to_domain_event
        for i in untouched(rng, fleet, used, args.loads):
            sid = shipment_id(fleet.journey(i).tracking_number)
            start = time.perf_counter()
            replay(map(to_domain_event, service.recorder.select_events_many([sid])))  # type: ignore[attr-defined]
            replayed.append((time.perf_counter() - start) * 1000)
        floor = []
        table = states_table or "tracking_events"
        key = "id" if states_table else "originator_id"
        query = sql.SQL("SELECT * FROM {} WHERE {} = %s").format(
            sql.Identifier(schema, table), sql.Identifier(key))
        with psycopg.connect(conninfo(settings), autocommit=True) as conn:
            for i in untouched(rng, fleet, used, args.loads):
                sid = shipment_id(fleet.journey(i).tracking_number)
                start = time.perf_counter()
                conn.execute(query, (sid,), prepare=True).fetchall()
                floor.append((time.perf_counter() - start) * 1000)
        batch = []
        for _ in range(args.batches):
            ids = [shipment_id(fleet.journey(i).tracking_number)
                   for i in untouched(rng, fleet, used, 100)]
            start = time.perf_counter()
            loaded = list(service.store.reconstruct(ids))
            batch.append((time.perf_counter() - start) * 1000)
            if len(loaded) != 100:
                sys.exit("bench: a batch did not load")
        # Scans into shipments nobody has cached: each batch's shipments new
        # to this service (and to every other).
        maker, now = JourneyMaker(rng), datetime.now(UTC)
        rates, sent, recorded = [], 0, 0
        for _ in range(args.scan_batches):
            scans = [maker.follow_up(fleet.journey(i), now) for i in untouched(rng, fleet, used, 100)]
            start = time.perf_counter()
            outcomes = service.record_scans(scans)
            rates.append(len(scans) / (time.perf_counter() - start))
            sent += len(scans)
            recorded += count_recorded(outcomes)
        # (e) memory: shipments loaded into one service's cache, as a
        # consumer going round a large fleet does.
        loads = min(args.memory_loads, (fleet.size - len(used)) // 2)
        rss_before = rss()
        for start in range(0, loads, 100):
            ids = [shipment_id(fleet.journey(i).tracking_number)
                   for i in untouched(rng, fleet, used, min(100, loads - start))]
            service.store.load(ids)
        cache = service.store.cache
        memory = [float(loads), float(rss_before), float(rss()), float(len(cache)),
                  float(getattr(cache, "bytes", 0)), float(getattr(cache, "budget", 0))]
    finally:
        service.close()
    return one, replayed, floor, batch, rates, [float(sent), float(recorded)], memory


def rss() -> int:
    """This process's resident set, in bytes (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def ceilings(settings: Settings, schema: str, payloads: list[tuple[str, bytes]], rows: int,
             rng: random.Random) -> dict[str, float]:
    """psycopg alone, 100 rows per transaction: rows/s, median of 5 rounds."""
    found = {}
    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        raw = RawTable(conn, schema)
        for label, write in (("executemany", raw.executemany), ("unnest", raw.unnest)):
            raw.truncate()
            data = [(uuid.uuid4(), rng.randint(3, 40), *rng.choice(payloads)) for _ in range(rows)]
            txns = chunks(data, 100)
            rates = []
            for round_ in chunks(txns, max(1, len(txns) // 5)):
                start = time.perf_counter()
                for t in round_:
                    write(t)
                rates.append(sum(len(t) for t in round_) / (time.perf_counter() - start))
            found[label] = statistics.median(rates)
        raw.drop()
    return found


def report(f: Figures) -> None:
    scans = statistics.median(f.scans_per_s)
    ceiling = max(f.ceilings.values())
    d = f.disk
    print(f"\n{f.size:,} shipments, {d['events']:,} events  (seeded in {f.seed_s:.0f} s)")
    def p50_p99(label: str, values: list[float]) -> None:
        print(f"  {label:<40} p50 {percentile(values, 0.5):6.2f} ms   "
              f"p99 {percentile(values, 0.99):6.2f} ms   ({len(values)})")

    p50_p99("(a) one cold shipment, store.reconstruct", f.one_ms)
    p50_p99("    the same, replaying all its events", f.replayed_ms)
    p50_p99("    floor: psycopg, one SELECT by key", f.floor_ms)
    p50_p99("(b) 100 cold shipments in one call", f.batch_ms)
    print(f"  (c) scans, batches of 100, none cached: {scans:,.0f} scans/s "
          f"(min-max {min(f.scans_per_s):,.0f}-{max(f.scans_per_s):,.0f}, "
          f"{len(f.scans_per_s)} batches; {f.recorded:,}/{f.sent:,} recorded)")
    print("  (d) ceiling, psycopg 100 rows/txn: " + ", ".join(
        f"{k} {v:,.0f} rows/s" for k, v in f.ceilings.items()) + f"  ->  x ceiling {scans / ceiling:.3f}")
    summaries(f, scans, ceiling)
    loads, before, after, cached, held, budget = f.memory
    print(f"  (e) {loads:,.0f} cold shipments loaded by one service: RSS {before / 2**20:,.0f} -> "
          f"{after / 2**20:,.0f} MiB; its cache holds {cached:,.0f} "
          f"({held / 2**20:,.0f} MiB estimated, budget {budget / 2**20:,.0f} MiB)")
    line = (f"  disk: table {d['heap'] / 2**20:,.0f} MiB + indexes {d['indexes'] / 2**20:,.0f} MiB"
            f" = {(d['heap'] + d['indexes']) / d['events']:,.0f} bytes/event")
    if "states" in d:
        line += f"; states {d['states'] / 2**20:,.0f} MiB ({d['states'] / f.size:,.0f} bytes/shipment)"
    print(line)


def summaries(f: Figures, scans: float, ceiling: float) -> None:
    """The lines bench/all.py puts in RESULTS.md's table: figure | measured |
    ceiling | x ceiling | bar | what holds it back."""
    ratio = scans / ceiling
    verdict = ("met" if scans >= 10_000 and ratio >= 0.15 else
               f"NOT met ({'the ratio is met, ' if ratio >= 0.15 else ''}not the figure)")
    print(f"summary: scans into shipments nobody has cached, batches of 100 ({f.size:,} shipments) "
          f"| {scans:,.0f} scans/s | {ceiling:,.0f} rows/s (psycopg, 100 rows/txn) | {ratio:.2f} "
          f"| >= 10,000 scans/s, >= 0.15 x ceiling: {verdict} | one Python process: decoding each "
          "shipment's state row and encoding it again, its scan's event, 3 round trips a batch")
    p50, p99 = percentile(f.one_ms, 0.5), percentile(f.one_ms, 0.99)
    floor50, floor99 = percentile(f.floor_ms, 0.5), percentile(f.floor_ms, 0.99)
    print(f"summary: loading one shipment nobody has cached ({f.size:,} shipments) "
          f"| p50 {p50:.2f} ms, p99 {p99:.2f} ms (replaying its events: "
          f"p50 {percentile(f.replayed_ms, 0.5):.2f}, p99 {percentile(f.replayed_ms, 0.99):.2f}) "
          f"| p50 {floor50:.2f} ms, p99 {floor99:.2f} ms (one psycopg SELECT by key) "
          f"| {floor50 / p50:.2f} | p99 < 2 ms: {'met' if p99 < 2 else 'NOT met'} "
          "| the round trip (the floor's p99) and the pool; decoding the row takes 0.1-0.2 ms")
    d = f.disk
    per_event = (d["heap"] + d["indexes"]) / d["events"]
    states = f"; state rows {d['states'] / f.size:,.0f} bytes/shipment" if "states" in d else ""
    print(f"summary: on disk ({f.size:,} shipments, {d['events']:,} events) | {per_event:,.0f} "
          f"bytes/event (table {d['heap'] / 2**20:,.0f} MiB, indexes "
          f"{d['indexes'] / 2**20:,.0f} MiB){states} | - | - | - | grows linearly with events")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="shipment counts, ascending")
    parser.add_argument("--templates", type=int, default=300, help="shipments made by the domain")
    parser.add_argument("--loads", type=int, default=400, help="(a): single loads per size")
    parser.add_argument("--batches", type=int, default=20, help="(b): loads of 100 per size")
    parser.add_argument("--scan-batches", type=int, default=40, help="(c): batches of 100 per size")
    parser.add_argument("--ceiling-rows", type=int, default=20_000, help="(d): rows per way")
    parser.add_argument("--cache-bytes", type=int, default=Settings().cache_bytes,
                        help="the services' TRACKING_CACHE_BYTES (128 MiB)")
    parser.add_argument("--memory-loads", type=int, default=20_000,
                        help="(e): shipments loaded into one service's cache")
    parser.add_argument("--quick", action="store_true", help="2,000 shipments, few repetitions")
    parser.add_argument("--keep", action="store_true", help="keep the schema at the end")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.templates, args.loads, args.batches = "2000", 50, 100, 5
        args.scan_batches, args.ceiling_rows, args.memory_loads = 10, 4_000, 600
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    url = os.environ.get("TRACKING_BENCH_SCALE_DATABASE_URL") or DEFAULT_URL
    settings = Settings(database_url=url, cache_bytes=args.cache_bytes)
    schema, server = reset_schema(settings)
    print(f"bench/scale.py  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  (PostgreSQL {server}, "
          f"schema {schema}; {os.cpu_count()} CPUs, shared: figures vary run to run)")
    rng = random.Random(SEED)
    try:
        service = fresh_service(settings)  # creates the tables
        states_table = getattr(service.recorder, "states_table_name", None)
        templates = make_templates(service, JourneyMaker(rng), args.templates)
        service.close()
        payloads = [e for t in templates for e in t.events[2:]]  # scans' (topic, state)
        fleet, used = Fleet(templates), set()
        mean = statistics.mean(len(t.events) for t in templates)
        print(f"{len(templates)} shipments made through the domain, {mean:.1f} events each; "
              f"state rows: {'yes, table ' + states_table if states_table else 'none'}")
        for size in (int(s) for s in args.sizes.split(",")):
            progress(f"seeding up to {size:,} shipments")
            seed_s = grow(settings, schema, fleet, size, states_table)
            progress(f"measuring at {size:,}")
            one, replayed, floor, batch, rates, counts, memory = measure(
                settings, schema, fleet, rng, used, args, states_table)
            roof = ceilings(settings, schema, payloads, args.ceiling_rows, rng)
            report(Figures(size, seed_s, one, replayed, floor, batch, rates, int(counts[1]),
                           int(counts[0]), roof, disk(settings, schema, states_table), memory))
    finally:
        if not args.keep:
            with psycopg.connect(conninfo(settings), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
