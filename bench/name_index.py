"""The recipients' blind name index: what it adds to a booking, and how fast
the console's search by name finds, on SQLite (a file) and, with
--postgres, on PostgreSQL (a fresh schema of TRACKING_BENCH_DATABASE_URL).

Books N shipments (random first names and surnames from small lists, so
words are shared as real names share them) alternately through a service
that indexes (as shipped) and through one whose vault's index_recipient
does nothing (the ceiling: a booking without the index), in the same run;
then finds, through the index of N recipients, a surname many share and a
full name one has (median and p99 of each). Nothing is asserted; the
machine is shared (say so beside the figures).

    .venv/bin/python bench/name_index.py               # N = 1,000 on SQLite
    .venv/bin/python bench/name_index.py --postgres    # and on PostgreSQL
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from adapters.composition import build_service
from adapters.settings import Settings
from tracking.application import ShipmentService
from tracking.booking import Booking, Recipient
from tracking.codes import SourceKind, TransportMode
from tracking.identifiers import CountryCode, Locode, TrackingNumber, s10_check_digit
from tracking.route import Leg, Route
from tracking.scan import Source

FIRST = ["Ann", "Astrid", "Björn", "Zoé", "Karin", "Lars", "Mei", "Olle", "Sven", "Ingrid"]
LAST = ["Lindqvist", "Andersson", "Åström", "Berg", "Nilsson", "Wang", "Lindgren", "Holm",
        "Ek", "Sjöberg", "Dahl", "Lund", "Strand", "Nyberg", "Falk", "Wikström"]
AGENT = Source(SourceKind.AGENT, "bench")
AT = datetime(2026, 1, 5, tzinfo=UTC)
ROUTE = Route((Leg(voyage="V100", mode=TransportMode.SEA, from_=Locode("HKHKG"),
                   to=Locode("SESTO"), departs_at=AT + timedelta(days=1),
                   arrives_at=AT + timedelta(days=20)),))


def _booking(rng: random.Random) -> Booking:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)} {rng.choice(LAST)}"
    return Booking(carrier="postnord", origin=Locode("HKHKG"), destination=Locode("SESTO"),
                   deliver_by=AT + timedelta(days=25),
                   recipient=Recipient(name, "111 22", CountryCode("SE")))


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


def measure(label: str, indexing: ShipmentService, bare: ShipmentService, n: int) -> None:
    bare.personal_data.index_recipient = lambda subject, recipient: None  # type: ignore[method-assign]
    rng, serial = random.Random(7), 0
    took: dict[str, list[float]] = {"index": [], "bare": []}
    for i in range(2 * n):
        serial += 1
        digits = f"{serial:08d}"
        tn = TrackingNumber(f"LX{digits}{s10_check_digit(digits)}SE")
        service, kind = (indexing, "index") if i % 2 == 0 else (bare, "bare")
        booking = _booking(rng)
        start = time.perf_counter()
        service.book(tn, booking, ROUTE, AGENT)
        took[kind].append(time.perf_counter() - start)
    vault = indexing.personal_data
    common = [vault.find_recipients("lindqvist") for _ in range(3)][0]
    finds: dict[str, list[float]] = {"lindqvist": [], "zoé lindqvist åström": []}
    for _ in range(200):
        for query in finds:
            start = time.perf_counter()
            vault.find_recipients(query)
            finds[query].append(time.perf_counter() - start)
    ratio = statistics.median(took["index"]) / statistics.median(took["bare"])
    print(f"{label}: {n} bookings indexed, {n} not (the ceiling), interleaved")
    print(f"  book, indexed:      {_ms(took['index'])}")
    print(f"  book, not (ceiling): {_ms(took['bare'])}   indexed/ceiling {ratio:.2f}")
    for query, samples in finds.items():
        print(f"  find {query!r}: {_ms(samples)}"
              + (f" ({len(common)} found, at most 100)" if query == "lindqvist" else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    master = os.urandom(32)
    with tempfile.TemporaryDirectory() as tmp:
        services = [build_service(Settings(database_url=f"sqlite:///{tmp}/{name}.db",
                                           master_key=master)) for name in ("a", "b")]
        try:
            measure("SQLite", *services, args.n)
        finally:
            for s in services:
                s.close()
    if args.postgres:
        url = os.environ.get("TRACKING_BENCH_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
        schemas = [f"bench_names_{uuid.uuid4().hex[:8]}" for _ in range(2)]
        with psycopg.connect(url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            services = [build_service(Settings(database_url=f"{url}?schema={schema}",
                                               master_key=master)) for schema in schemas]
            try:
                measure("PostgreSQL", *services, args.n)
            finally:
                for s in services:
                    s.close()
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
