"""Event store benchmark: how fast the shipment service records scans and
loads shipments on PostgreSQL, next to what psycopg alone does on a table of
the same shape, in the same run.

It seeds N shipments (2-3 leg routes, 10-30 scans each) into a schema that is
dropped and recreated at every run, then measures:

  (a) scans/s, one scan per call (``ShipmentService.record_scan``);
  (b) scans/s, batches of 100 and of 1,000 scans, each batch spread over many
      shipments (``record_scans``);
      (a) and (b) both WARM (the service that seeded, every shipment current
      in its aggregate cache) and COLD (fresh services built from the same
      settings: a new one whenever a batch would touch a shipment the current
      one has loaded, so every shipment of every batch comes from the database);
  (c) the time to load one shipment of 10, 100 and 1,000 events from the
      database (the fetch alone, and fetch + decode + replay through
      ``service.store.reconstruct``), and to derive its delivery from a warm cache
      (``service.delivery``);
  (d) the ceilings: psycopg alone on a table shaped like the event store, one
      row per transaction, 100 and 1,000 rows per transaction, and COPY; each
      figure of (a) and (b) is also given as a fraction of the best plain
      insert of 100 rows per transaction;

then profiles a few batches of 1,000 scans (warm and cold) with cProfile.

Figures are medians over rounds, with the spread (min-max): the machine is
usually shared. Nothing about timing is asserted; the one check is that every
scan sent was recorded (a WARNING line says otherwise).

Run:
    make bench                                   # .venv/bin/python bench/store.py
    .venv/bin/python bench/store.py --quick      # smoke test, well under 60 s
    .venv/bin/python bench/store.py --shipments 5000 --no-profile

Database: TRACKING_BENCH_DATABASE_URL, by default
postgresql://postgres@127.0.0.1:5432/test?schema=bench. The schema named in the
URL is DROPPED and recreated at the start of every run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import psycopg
from eventsourcing.utils import get_topic
from psycopg import sql

from adapters.composition import build_service
from adapters.settings import Settings
from tracking.application import ScanOutcome, ScanResult, ShipmentService
from tracking.booking import Booking, Recipient
from tracking.codes import ExceptionReason, ScanEvent, SourceKind, TransportMode
from tracking.identifiers import CountryCode, Locode, TrackingNumber, s10_check_digit, shipment_id
from tracking.route import Leg, Route
from tracking.scan import Scan, Source
from tracking.shipment import Shipment

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=bench"
SEED = 20240601
WARNINGS: list[str] = []


# -- how much to do --------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    shipments: int
    single_scans: int  # (a), for each of warm and cold
    batch_scans: int  # (b), for each batch size, warm and cold
    batch_sizes: tuple[int, ...] = (100, 1000)
    load_sizes: tuple[int, ...] = (10, 100, 1000)  # (c), events per shipment
    load_reps: int = 40
    raw_rows: int = 20_000  # (d), for each batched way of writing
    raw_single_rows: int = 2_000  # (d), one row per transaction
    profile_batches: int = 3
    seed_batch: int = 1000


def make_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(
            shipments=args.shipments or 400,
            single_scans=200,
            batch_scans=2_000,
            load_reps=30,
            raw_rows=2_000,
            raw_single_rows=300,
            profile_batches=1,
        )
    return Plan(shipments=args.shipments or 2_000, single_scans=2_000, batch_scans=20_000)


# -- realistic shipments -----------------------------------------------------------


class LaneLeg(NamedTuple):
    origin: str
    destination: str
    mode: TransportMode
    min_hours: float
    max_hours: float


class Slot(NamedTuple):
    """A leg's voyage and times, from the start of the journey."""

    voyage: str
    departs: timedelta
    arrives: timedelta


AIR, SEA, RAIL, ROAD = TransportMode.AIR, TransportMode.SEA, TransportMode.RAIL, TransportMode.ROAD
LANES = tuple(tuple(LaneLeg(*leg) for leg in lane) for lane in (
    (("HKHKG", "DEHAM", AIR, 12, 16), ("DEHAM", "SESTO", ROAD, 14, 26)),
    (("CNSHA", "NLRTM", SEA, 600, 790), ("NLRTM", "DEHAM", RAIL, 10, 20)),
    (("JPTYO", "HKHKG", AIR, 4, 6), ("HKHKG", "USNYC", AIR, 15, 18)),
    (("HKHKG", "JPTYO", AIR, 4, 6), ("JPTYO", "USNYC", AIR, 12, 14)),
    (("SGSIN", "NLRTM", SEA, 500, 620), ("NLRTM", "DEHAM", ROAD, 7, 10),
     ("DEHAM", "SESTO", ROAD, 14, 26)),
    (("CNSHA", "SGSIN", SEA, 100, 140), ("SGSIN", "DEHAM", AIR, 13, 15),
     ("DEHAM", "SESTO", RAIL, 20, 30)),
    (("CNSHA", "HKHKG", SEA, 40, 60), ("HKHKG", "NLRTM", AIR, 13, 15),
     ("NLRTM", "SESTO", ROAD, 20, 30)),
    (("JPTYO", "HKHKG", AIR, 4, 6), ("HKHKG", "SGSIN", AIR, 3, 5), ("SGSIN", "NLRTM", AIR, 13, 15)),
))  # fmt: skip
COORDINATES = {
    "HKHKG": (22.30, 114.17), "CNSHA": (31.23, 121.47), "JPTYO": (35.68, 139.69),
    "SGSIN": (1.29, 103.85), "NLRTM": (51.92, 4.48), "DEHAM": (53.55, 9.99),
    "SESTO": (59.33, 18.07), "USNYC": (40.71, -74.01),
}  # fmt: skip
POSTCODES = {"SE": "114 55", "DE": "20095", "NL": "3011 AD", "US": "10001"}
CARRIERS = ("PostNord", "DHL eCommerce", "Cainiao", "Yanwen", "USPS")
RECIPIENTS = ("Alva Lindqvist", "Jonas Becker", "Sanne de Vries", "Maria Lopez", "Kenji Sato")
VOYAGE_PREFIXES = {
    AIR: ("CX", "LH", "SK", "JL"), SEA: ("MAEU", "MSCU", "COSU"), RAIL: ("RAIL",), ROAD: ("TRK",),
}  # fmt: skip
# Scans that may come between any two others, and how often.
EXTRAS = (
    (ScanEvent.RECEIVED, None),  # a sort-centre scan
    (ScanEvent.EXCEPTION, ExceptionReason.WEATHER),
    (ScanEvent.EXCEPTION, ExceptionReason.OTHER),
    (ScanEvent.EXCEPTION, ExceptionReason.DAMAGED),
)
EXTRA_WEIGHTS = (12, 3, 2, 1)


class Step(NamedTuple):
    """A scan to be, timed from the start of the journey."""

    event: ScanEvent
    location: str
    at: timedelta
    voyage: str | None = None
    reason: ExceptionReason | None = None


@dataclass(frozen=True)
class Journey:
    """A shipment as the benchmark made it: its booking and its seed scans."""

    tracking_number: TrackingNumber
    booking: Booking
    route: Route
    scans: tuple[Scan, ...]

    @property
    def source(self) -> Source:
        return Source(SourceKind.CARRIER, self.booking.carrier)


class JourneyMaker:
    """Makes shipments with valid S10 tracking numbers, contiguous routes and
    chronological scan histories that end in the recent past."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serial = rng.randrange(10_000_000, 50_000_000)

    def hours(self, lo: float, hi: float) -> timedelta:
        return timedelta(hours=self.rng.uniform(lo, hi))

    def tracking_number(self, country: str) -> TrackingNumber:
        self.serial += 1
        digits = f"{self.serial:08d}"
        return TrackingNumber(f"LX{digits}{s10_check_digit(digits)}{country}")

    def make(self, scan_count: int, now: datetime) -> Journey:
        """A journey of ``scan_count`` scans: a full one padded with extra
        scans, or one still under way (cut short)."""
        lane = self.rng.choice(LANES)
        slots = self._slots(lane)
        steps = self._lifecycle(lane, slots)
        steps = self._pad(steps, scan_count) if scan_count > len(steps) else steps[:scan_count]
        start = now - self.hours(0.5, 72) - steps[-1].at  # the last scan, a while ago
        route = Route(tuple(
            Leg(voyage=slot.voyage, mode=leg.mode, from_=Locode(leg.origin),
                to=Locode(leg.destination), departs_at=start + slot.departs,
                arrives_at=start + slot.arrives)
            for leg, slot in zip(lane, slots, strict=True)
        ))  # fmt: skip
        tn = self.tracking_number(route.legs[0].from_.country)
        scans = tuple(
            self.scan(tn, s.event, s.location, start + s.at, s.voyage, s.reason) for s in steps
        )
        return Journey(tn, self._booking(route), route, scans)

    def scan(
        self,
        tn: str,
        event: ScanEvent,
        location: str,
        at: datetime,
        voyage: str | None = None,
        reason: ExceptionReason | None = None,
    ) -> Scan:
        lat, lon = COORDINATES[location]
        return Scan(
            scan_id=uuid.uuid4().hex,
            tracking_number=TrackingNumber(tn),
            event=event,
            location=Locode(location),
            occurred_at=at,
            device_id=f"{location.lower()}-scanner-{self.rng.randint(1, 40):02d}",
            voyage=voyage,
            reason=reason,
            lat=lat,
            lon=lon,
        )

    def follow_up(self, journey: Journey, now: datetime) -> Scan:
        """A new scan for a seeded shipment: a handling event at one of its
        route's stops, a little before now (scans come late, out of order)."""
        leg = self.rng.choice(journey.route.legs)
        event, reason = self.rng.choice(
            ((ScanEvent.ARRIVED, None), (ScanEvent.UNLOADED, None), *EXTRAS[:2])
        )
        voyage = leg.voyage if event in (ScanEvent.ARRIVED, ScanEvent.UNLOADED) else None
        at = now - self.hours(0, 6)
        return self.scan(journey.tracking_number, event, leg.to, at, voyage, reason)

    def _booking(self, route: Route) -> Booking:
        destination = route.legs[-1].to
        return Booking(
            carrier=self.rng.choice(CARRIERS),
            origin=route.legs[0].from_,
            destination=destination,
            deliver_by=route.legs[-1].arrives_at + timedelta(days=3),
            recipient=Recipient(
                self.rng.choice(RECIPIENTS),
                POSTCODES[destination.country],
                CountryCode(destination.country),
            ),
        )

    def _slots(self, lane: Sequence[LaneLeg]) -> list[Slot]:
        slots, t = [], self.hours(12, 48)
        for leg in lane:
            voyage = f"{self.rng.choice(VOYAGE_PREFIXES[leg.mode])}{self.rng.randint(100, 9999)}"
            arrives = t + self.hours(leg.min_hours, leg.max_hours)
            slots.append(Slot(voyage, t, arrives))
            t = arrives + self.hours(12, 48)  # time to connect at the hub
        return slots

    def _lifecycle(self, lane: Sequence[LaneLeg], slots: Sequence[Slot]) -> list[Step]:
        """RECEIVED; per leg LOADED, DEPARTED, ARRIVED, UNLOADED (and RECEIVED
        at each hub); handed over, out for delivery (sometimes an attempt that
        fails on the address), DELIVERED."""
        h = self.hours
        steps = [Step(ScanEvent.RECEIVED, lane[0].origin, slots[0].departs - h(6, 11))]
        for i, (leg, slot) in enumerate(zip(lane, slots, strict=True)):
            if i:
                steps.append(Step(ScanEvent.RECEIVED, leg.origin, slots[i - 1].arrives + h(3.5, 6)))
            steps += [
                Step(ScanEvent.LOADED, leg.origin, slot.departs - h(1, 3), slot.voyage),
                Step(ScanEvent.DEPARTED, leg.origin, slot.departs + h(0, 1), slot.voyage),
                Step(ScanEvent.ARRIVED, leg.destination, slot.arrives + h(0, 1), slot.voyage),
                Step(ScanEvent.UNLOADED, leg.destination, slot.arrives + h(1.5, 3), slot.voyage),
            ]
        home, end = lane[-1].destination, slots[-1].arrives
        steps += [
            Step(ScanEvent.HANDED_OVER, home, end + h(5, 8)),
            Step(ScanEvent.OUT_FOR_DELIVERY, home, end + h(20, 24)),
        ]
        if self.rng.random() < 0.2:
            steps += [
                Step(ScanEvent.DELIVERY_ATTEMPTED, home, end + h(26, 28)),
                Step(
                    ScanEvent.EXCEPTION, home, end + h(28, 29),
                    reason=ExceptionReason.ADDRESS_PROBLEM,
                ),  # fmt: skip
                Step(ScanEvent.OUT_FOR_DELIVERY, home, end + h(44, 48)),
            ]
        steps.append(Step(ScanEvent.DELIVERED, home, steps[-1].at + h(2, 6)))
        return steps

    def _pad(self, steps: list[Step], count: int) -> list[Step]:
        """Extra scans between existing ones, at the place of the one before."""
        while len(steps) < count:
            i = self.rng.randrange(1, len(steps))
            before, after = steps[i - 1], steps[i]
            event, reason = self.rng.choices(EXTRAS, EXTRA_WEIGHTS)[0]
            at = before.at + (after.at - before.at) * self.rng.random()
            steps.insert(i, Step(event, before.location, at, None, reason))
        return steps


@dataclass
class Fleet:
    """The seeded shipments, and how many events their streams hold in all."""

    journeys: list[Journey]
    events: int = 0

    @property
    def mean_events(self) -> float:
        return self.events / len(self.journeys)

    def new_scans(self, maker: JourneyMaker, total: int) -> list[Scan]:
        """``total`` new scans, going round the fleet in a new random order
        each time: consecutive scans are for different shipments."""
        now = datetime.now(UTC)
        scans: list[Scan] = []
        while len(scans) < total:
            order = maker.rng.sample(self.journeys, len(self.journeys))
            scans += [maker.follow_up(j, now) for j in order[: total - len(scans)]]
        return scans


def seed(service: ShipmentService, maker: JourneyMaker, plan: Plan) -> tuple[Fleet, float, float]:
    """Book every shipment, then record all seed scans in time order, in
    batches. Returns the fleet and the time taken by bookings and by scans."""
    now = datetime.now(UTC)
    fleet = Fleet([maker.make(maker.rng.randint(10, 30), now) for _ in range(plan.shipments)])
    start = time.perf_counter()
    for journey in fleet.journeys:
        service.book(journey.tracking_number, journey.booking, journey.route, journey.source)
    booked = time.perf_counter()
    scans = sorted((s for j in fleet.journeys for s in j.scans), key=lambda s: s.occurred_at)
    recorded = sum(count_recorded(service.record_scans(b)) for b in chunks(scans, plan.seed_batch))
    done = time.perf_counter()
    check_recorded("seeding", len(scans), recorded)
    fleet.events = 2 * len(fleet.journeys) + recorded  # Opened and Booked, then the scans
    return fleet, booked - start, done - booked


# -- small helpers -------------------------------------------------------------------


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def count_recorded(outcomes: Iterable[ScanOutcome]) -> int:
    return sum(o.result is ScanResult.RECORDED for o in outcomes)


def check_recorded(what: str, sent: int, recorded: int) -> None:
    if recorded != sent:
        WARNINGS.append(f"WARNING: {what}: {recorded:,} of {sent:,} scans recorded")
        print(WARNINGS[-1], flush=True)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rates_by_round(sizes: Sequence[int], durations: Sequence[float], rounds: int) -> list[float]:
    """Items/s of each round of consecutive calls."""
    per_round = max(1, len(sizes) // rounds)
    return [
        sum(sizes[i : i + per_round]) / sum(durations[i : i + per_round])
        for i in range(0, len(sizes) - per_round + 1, per_round)
    ]


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# -- services: warm and cold -----------------------------------------------------------


def fresh_service(settings: Settings) -> ShipmentService:
    """A new service through the composition root, its connection pool filled
    (so that connecting in the background does not land in a timed call) and
    its database loads counted."""
    service = build_service(settings)
    pool = getattr(getattr(service.recorder, "datastore", None), "pool", None)
    if pool is not None:
        pool.wait(timeout=30)
    count_loads(service)
    return service


def count_loads(service: ShipmentService) -> None:
    """Instrumentation: count the shipments this service object loads from
    the database, by wrapping its recorder's ``select_latest_many``."""
    recorder: Any = service.recorder
    select = recorder.select_latest_many

    def counted(ids: Sequence[uuid.UUID]) -> Sequence[Any]:
        recorder.shipments_loaded += len(ids)
        return select(ids)

    recorder.shipments_loaded = 0
    recorder.select_latest_many = counted


def loads(service: ShipmentService) -> int:
    return int(getattr(service.recorder, "shipments_loaded", 0))


def rewarm(service: ShipmentService, fleet: Fleet) -> None:
    """Make the service's cached copy of every shipment current. Cold runs
    write the same shipments through other service objects, which leaves this
    one's copies stale; a stale copy fails on save, and then its whole batch
    is reloaded from the database and retried, which is no warm write."""
    ids = [shipment_id(j.tracking_number) for j in fleet.journeys]
    service.store.evict(ids)
    service.store.load(ids)


class Services:
    """Hands each batch the service that records it: the seeding service
    (warm), or a fresh one whenever the batch would touch a shipment the
    current fresh one has already loaded (cold)."""

    def __init__(self, settings: Settings, warm: ShipmentService | None) -> None:
        self.settings = settings
        self.warm = warm
        self.mode = "warm" if warm is not None else "cold"
        self.cold: ShipmentService | None = None
        self.touched: set[uuid.UUID] = set()
        self.built = 0
        self.closed_loads = 0
        self.warm_loads_before = loads(warm) if warm is not None else 0

    def for_batch(self, batch: Sequence[Scan]) -> ShipmentService:
        if self.warm is not None:
            return self.warm
        ids = {shipment_id(s.tracking_number) for s in batch}
        if self.cold is None or not self.touched.isdisjoint(ids):
            self.close()
            self.cold = fresh_service(self.settings)
            self.built += 1
        self.touched |= ids
        return self.cold

    def shipments_loaded(self) -> int:
        """Shipments loaded from the database since this object was made."""
        if self.warm is not None:
            return loads(self.warm) - self.warm_loads_before
        return self.closed_loads + (loads(self.cold) if self.cold is not None else 0)

    def close(self) -> None:
        if self.cold is not None:
            self.closed_loads += loads(self.cold)
            self.cold.close()
        self.cold, self.touched = None, set()


# -- (a) and (b): recording scans ------------------------------------------------------


@dataclass
class Throughput:
    label: str
    cache: str
    per_call: int
    sent: int
    recorded: int
    rates: list[float]  # scans/s of each round
    mean_events: float  # events per shipment when the measurement started
    loaded: int  # shipments loaded from the database during the timed calls
    services_built: int

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def record(service: ShipmentService, batch: Sequence[Scan]) -> list[ScanOutcome]:
    """One scan per call through ``record_scan``, more through ``record_scans``."""
    if len(batch) == 1:
        return [service.record_scan(batch[0])]
    return service.record_scans(batch)


def measure_throughput(
    label: str, services: Services, batches: Sequence[Sequence[Scan]], rounds: int, fleet: Fleet
) -> Throughput:
    """Time every call (building services is not timed); group consecutive
    calls into rounds; scans/s of each round."""
    mean_events = fleet.mean_events
    durations, recorded = [], 0
    for batch in batches:
        service = services.for_batch(batch)
        start = time.perf_counter()
        outcomes = record(service, batch)
        durations.append(time.perf_counter() - start)
        recorded += count_recorded(outcomes)
    loaded = services.shipments_loaded()
    services.close()
    sizes = [len(b) for b in batches]
    fleet.events += recorded
    check_recorded(f"{label}, {services.mode}", sum(sizes), recorded)
    return Throughput(
        label, services.mode, sizes[0], sum(sizes), recorded,
        rates_by_round(sizes, durations, rounds), mean_events, loaded, services.built,
    )  # fmt: skip


def measure_recording(
    service: ShipmentService, settings: Settings, fleet: Fleet, maker: JourneyMaker, plan: Plan
) -> list[Throughput]:
    """(a) and (b): each size warm, then cold, each time on new scans."""
    sizes = [(1, plan.single_scans, "one scan per call", 5)] + [
        (size, plan.batch_scans, f"batches of {size:,}", 10) for size in plan.batch_sizes
    ]
    results = []
    for size, total, label, rounds in sizes:
        for warm in (service, None):
            if warm is not None:
                rewarm(warm, fleet)
            services = Services(settings, warm)
            progress(f"recording: {label}, {services.mode}")
            batches = chunks(fleet.new_scans(maker, total), size)
            results.append(measure_throughput(label, services, batches, rounds, fleet))
    return results


# -- (c): loading one shipment --------------------------------------------------------------


@dataclass
class LoadTimes:
    events: int
    fetch: list[float]  # select_latest_many alone
    cold: list[float]  # fetch, decode and replay: store.reconstruct
    warm_delivery: list[float]  # delivery() from the aggregate cache


def seed_long_shipment(service: ShipmentService, maker: JourneyMaker, events: int) -> Journey:
    """A shipment whose stream holds ``events`` events: Opened, Booked, scans."""
    journey = maker.make(events - 2, datetime.now(UTC))
    service.book(journey.tracking_number, journey.booking, journey.route, journey.source)
    recorded = sum(count_recorded(service.record_scans(b)) for b in chunks(journey.scans, 500))
    check_recorded(f"the shipment of {events} events", len(journey.scans), recorded)
    return journey


def measure_loads(service: ShipmentService, maker: JourneyMaker, plan: Plan) -> list[LoadTimes]:
    """(c): cold from the database (no cache involved), and warm from the cache."""
    recorder: Any = service.recorder
    results = []
    for events in plan.load_sizes:
        progress(f"loading: a shipment of {events:,} events")
        journey = seed_long_shipment(service, maker, events)
        tn, sid = journey.tracking_number, shipment_id(journey.tracking_number)
        if (stored := len(recorder.select_events_many([sid]))) != events:
            WARNINGS.append(f"WARNING: the shipment of {events} events has {stored}")
        reps = range(plan.load_reps)
        fetch = [timed(lambda: recorder.select_latest_many([sid])) for _ in reps]
        cold = [timed(lambda: list(service.store.reconstruct([sid]))) for _ in reps]
        service.delivery(tn)  # into the cache, if it is not there yet
        warm = [timed(lambda: service.delivery(tn)) for _ in reps]
        results.append(LoadTimes(events, fetch, cold, warm))
    return results


# -- (d): the ceilings, psycopg alone ----------------------------------------------------------

Row = tuple[uuid.UUID, int, str, bytes]


@dataclass
class Ceiling:
    label: str
    per_txn: int
    plain: bool  # a plain insert: no table lock, NOTIFY or RETURNING
    rows: int
    rates: list[float]  # rows/s of each round

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


class RawTable:
    """A table shaped like the event store, written with psycopg directly.
    Each writing method takes the rows of one transaction."""

    COLUMNS = "originator_id, originator_version, topic, state"

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self.conn = conn
        self.table = sql.Identifier(schema, "raw_events")
        conn.execute(sql.SQL(
            "CREATE TABLE {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        ).format(self.table))  # fmt: skip
        conn.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (notification_id)").format(self.table))
        self.insert = sql.SQL(
            f"INSERT INTO {{}} ({self.COLUMNS}) VALUES (%s, %s, %s, %s)"
        ).format(self.table)
        self.insert_unnest = sql.SQL(
            f"INSERT INTO {{}} ({self.COLUMNS}) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[])"
        ).format(self.table)

    def truncate(self) -> None:
        self.conn.execute(sql.SQL("TRUNCATE {}").format(self.table))

    def drop(self) -> None:
        self.conn.execute(sql.SQL("DROP TABLE {}").format(self.table))

    def one_row(self, rows: Sequence[Row]) -> None:
        self.conn.execute(self.insert, rows[0], prepare=True)  # autocommit

    def executemany(self, rows: Sequence[Row]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(self.insert, rows)

    def unnest(self, rows: Sequence[Row]) -> None:
        with self.conn.transaction():
            self.conn.execute(self.insert_unnest, columns(rows), prepare=True)

    def unnest_locked(self, rows: Sequence[Row]) -> None:
        """As the eventsourcing recorder writes: table lock, NOTIFY, RETURNING."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self.table))
            cur.execute("NOTIFY raw_events")
            returning = self.insert_unnest + sql.SQL(" RETURNING notification_id")
            cur.execute(returning, columns(rows), prepare=True)
            cur.fetchall()

    def copy(self, rows: Sequence[Row]) -> None:
        statement = sql.SQL(f"COPY {{}} ({self.COLUMNS}) FROM STDIN").format(self.table)
        with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


def columns(rows: Sequence[Row]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def raw_rows(payloads: Sequence[tuple[str, bytes]], count: int, rng: random.Random) -> list[Row]:
    """Rows for many different streams, with the states of real recorded scans."""
    return [(uuid.uuid4(), rng.randint(3, 40), *rng.choice(payloads)) for _ in range(count)]


def sample_payloads(service: ShipmentService) -> list[tuple[str, bytes]]:
    """The (topic, state) of recorded scans, for rows of the real size."""
    topic = get_topic(Shipment.ScanRecorded)
    stored = service.recorder.select_notifications(start=1, limit=2000, topics=[topic])
    return [(s.topic, bytes(s.state)) for s in stored]


def measure_ceilings(
    settings: Settings, schema: str, service: ShipmentService, plan: Plan
) -> list[Ceiling]:
    """(d): rows/s of each way of writing, in 5 rounds of its transactions."""
    payloads, rng = sample_payloads(service), random.Random(SEED)
    results = []
    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        raw = RawTable(conn, schema)
        ways: list[tuple[str, Callable[[Sequence[Row]], None], int, int]] = [
            ("one row per transaction", raw.one_row, 1, plan.raw_single_rows),
            ("100 rows/txn, executemany", raw.executemany, 100, plan.raw_rows),
            ("100 rows/txn, unnest", raw.unnest, 100, plan.raw_rows),
            ("100 rows/txn, unnest + lock + notify + returning", raw.unnest_locked, 100, plan.raw_rows),
            ("1,000 rows/txn, unnest", raw.unnest, 1000, plan.raw_rows),
            ("1,000 rows/txn, unnest + lock + notify + returning", raw.unnest_locked, 1000, plan.raw_rows),
            ("1,000 rows/txn, COPY", raw.copy, 1000, plan.raw_rows),
        ]  # fmt: skip
        for label, write, per_txn, total in ways:
            progress(f"ceiling: {label}")
            raw.truncate()
            txns = chunks(raw_rows(payloads, total, rng), per_txn)
            durations = [timed(lambda rows=rows: write(rows)) for rows in txns]  # type: ignore[misc]
            rates = rates_by_round([len(t) for t in txns], durations, 5)
            results.append(Ceiling(label, per_txn, "lock" not in label, total, rates))
        raw.drop()
    return results


def batched_ceiling(ceilings: Sequence[Ceiling]) -> Ceiling:
    """The best plain insert of 100 rows per transaction."""
    return max((c for c in ceilings if c.per_txn == 100 and c.plain), key=lambda c: c.median)


def like_for_like(ceilings: Sequence[Ceiling], per_txn: int) -> Ceiling:
    """The best insert of as many rows per transaction, COPY aside."""
    same = [c for c in ceilings if c.per_txn == per_txn and "COPY" not in c.label]
    return max(same, key=lambda c: c.median)


# -- profile ------------------------------------------------------------------------------------


def profile_batches(
    service: ShipmentService,
    settings: Settings,
    fleet: Fleet,
    maker: JourneyMaker,
    plan: Plan,
    warm: bool,
) -> tuple[cProfile.Profile, str]:
    """cProfile over a few batches of 1,000 scans (building services is not
    profiled). Returns the profile and a title for it."""
    size = max(plan.batch_sizes)
    scans = fleet.new_scans(maker, size * plan.profile_batches)
    if warm:
        rewarm(service, fleet)
    services = Services(settings, service if warm else None)
    profile, recorded = cProfile.Profile(), 0
    for batch in chunks(scans, size):
        target = services.for_batch(batch)
        profile.enable()
        outcomes = target.record_scans(batch)
        profile.disable()
        recorded += count_recorded(outcomes)
    loaded = services.shipments_loaded()
    services.close()
    fleet.events += recorded
    check_recorded(f"profiled batches, {services.mode}", len(scans), recorded)
    title = f"{services.mode}: {len(scans):,} scans, {loaded:,} shipments loaded from the database"
    return profile, title


def where(path: str, line: int, func: str) -> str:
    """A short name for a profiled function: package/module.py:line(function)."""
    if path == "~":
        return func
    parts = Path(path).parts
    return f"{'/'.join(parts[-2:])}:{line}({func})"


def print_profile(profile: cProfile.Profile, title: str, limit: int = 15) -> None:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in stats.values())
    for key, order in ((3, "cumulative"), (2, "own")):
        print(f"\n  {title}; top {limit} by {order} time (profiled total {total:.2f} s)")
        print(f"  {'calls':>9} {'own s':>7} {'cum s':>7}  function")
        ranked = sorted(stats.items(), key=lambda item: item[1][key], reverse=True)[:limit]
        for (path, line, func), (_, calls, own, cumulative, _) in ranked:
            print(f"  {calls:>9,} {own:7.3f} {cumulative:7.3f}  {where(path, line, func)}")


# -- the database -----------------------------------------------------------------------------


def conninfo(settings: Settings) -> str:
    """What psycopg needs to connect, from the project's own reading of the URL."""
    env = settings.eventstore_env()
    return psycopg.conninfo.make_conninfo(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        connect_timeout=env["POSTGRES_CONNECT_TIMEOUT"],
    )


def reset_schema(settings: Settings) -> tuple[str, str]:
    """Drop and recreate the benchmark's schema. Returns it and the server version."""
    schema = settings.eventstore_env().get("POSTGRES_SCHEMA")
    if not schema or schema == "public":
        sys.exit("bench: the URL needs a schema of its own (?schema=NAME): it is dropped every run")
    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        row = conn.execute("SHOW server_version").fetchone()
    return schema, row[0].split()[0] if row else "?"


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


# -- report -------------------------------------------------------------------------------------


def print_header(url: str, server: str, schema: str, quick: bool) -> None:
    print(f"bench/store.py{'  --quick' if quick else ''}  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"  database  {redact(url)}  (PostgreSQL {server}, schema {schema} recreated)")
    print(
        f"  software  Python {platform.python_version()}, eventsourcing {version('eventsourcing')}, "
        f"psycopg {version('psycopg')}, msgspec {version('msgspec')}; {os.cpu_count()} CPUs"
    )


def print_seeding(fleet: Fleet, plan: Plan, booking: float, scanning: float) -> None:
    shipments = len(fleet.journeys)
    scans = fleet.events - 2 * shipments
    print(
        f"\nseeded {shipments:,} shipments, {fleet.events:,} events ({fleet.mean_events:.1f} per "
        f"shipment) in {booking + scanning:.1f} s (not part of the figures):"
    )
    print(f"  {shipments:>7,} bookings, one per call   {booking:6.1f} s {shipments / booking:>8,.0f} /s")
    print(
        f"  {scans:>7,} scans, batches of {plan.seed_batch:,} {scanning:6.1f} s "
        f"{scans / scanning:>8,.0f} /s"
    )


def print_recording(results: Sequence[Throughput], ceilings: Sequence[Ceiling]) -> None:
    best = batched_ceiling(ceilings)
    built = ", ".join(f"{r.label}: {r.services_built}" for r in results if r.cache == "cold")
    print("\n(a) + (b) recording scans into existing shipments  (scans/s: median of rounds, min-max)")
    print(
        f"  {'':<18} {'cache':<5} {'scans/s':>8} {'min-max':>15} {'rounds':>6} "
        f"{'recorded/sent':>14} {'db loads':>8} {'ev/shp':>6} {'x ceiling':>9} {'x same':>6}"
    )
    for r in results:
        spread = f"{min(r.rates):,.0f}-{max(r.rates):,.0f}"
        same = like_for_like(ceilings, r.per_call)
        print(
            f"  {r.label:<18} {r.cache:<5} {r.median:>8,.0f} {spread:>15} {len(r.rates):>6} "
            f"{f'{r.recorded:,}/{r.sent:,}':>14} {r.loaded:>8,} {r.mean_events:>6.1f} "
            f"{r.median / best.median:>9.3f} {r.median / same.median:>6.3f}"
        )
    print(
        f"  x ceiling  median / best plain insert of 100 rows per transaction in (d)\n"
        f"             ({best.label}: {best.median:,.0f} rows/s)\n"
        "  x same     median / best insert in (d) with as many rows per transaction (COPY aside)\n"
        "  db loads   shipments loaded from the database in the timed calls; cold runs build a\n"
        f"             fresh service whenever a batch would touch a shipment already loaded\n"
        f"             ({built})\n"
        "  ev/shp     mean events per shipment when measured (the streams grow during the run)"
    )


def ms(values: Sequence[float]) -> str:
    """Median / p90, in milliseconds."""
    return f"{statistics.median(values) * 1e3:.2f} / {percentile(values, 0.9) * 1e3:.2f}"


def print_loads(loads: Sequence[LoadTimes], reps: int) -> None:
    print(f"\n(c) loading one shipment  (ms: median / p90 of {reps} repetitions)")
    print(
        f"  {'events':>7} {'fetch only':>15} {'cold: fetch+replay':>19} {'per event':>10} "
        f"{'warm: delivery()':>17}"
    )
    for lt in loads:
        per_event = statistics.median(lt.cold) / lt.events * 1e6
        print(
            f"  {lt.events:>7,} {ms(lt.fetch):>15} {ms(lt.cold):>19} {per_event:>8.1f}us "
            f"{ms(lt.warm_delivery):>17}"
        )
    print(
        "  fetch only  recorder.select_latest_many([id])\n"
        "  cold        service.store.reconstruct([id]): fetch, decode, replay (no cache)\n"
        "  warm        service.delivery(tn): derived from the aggregate cache"
    )


def print_ceilings(ceilings: Sequence[Ceiling]) -> None:
    print("\n(d) ceilings: psycopg alone, on a table shaped like the event store")
    print("    (rows/s: median of 5 rounds, min-max)")
    print(f"  {'':<52} {'rows/s':>9} {'min-max':>17} {'rows':>7}")
    for c in ceilings:
        spread = f"{min(c.rates):,.0f}-{max(c.rates):,.0f}"
        print(f"  {c.label:<52} {c.median:>9,.0f} {spread:>17} {c.rows:>7,}")


# -- main ------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--shipments", type=int, default=None, help="shipments to seed (2,000; 400 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="small numbers, a smoke test (< 60 s)")
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="profile batches of 1,000 scans with cProfile (on by default)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    run_start = time.perf_counter()
    url = os.environ.get("TRACKING_BENCH_DATABASE_URL") or DEFAULT_URL
    settings = Settings(database_url=url)
    schema, server = reset_schema(settings)
    maker = JourneyMaker(random.Random(SEED))
    print_header(url, server, schema, args.quick)

    progress(f"seeding {plan.shipments:,} shipments")
    service = fresh_service(settings)
    fleet, booking, scanning = seed(service, maker, plan)
    print_seeding(fleet, plan, booking, scanning)

    recording = measure_recording(service, settings, fleet, maker, plan)
    loads = measure_loads(service, maker, plan)
    ceilings = measure_ceilings(settings, schema, service, plan)
    print_recording(recording, ceilings)
    print_loads(loads, plan.load_reps)
    print_ceilings(ceilings)

    if args.profile:
        size = max(plan.batch_sizes)
        print(f"\nprofile of record_scans, {plan.profile_batches} batch(es) of {size:,} scans")
        for warm in (True, False):
            progress(f"profiling: batches of {size:,}, {'warm' if warm else 'cold'}")
            print_profile(*profile_batches(service, settings, fleet, maker, plan, warm))
    service.close()

    print()
    print("\n".join(WARNINGS) or "check: every scan sent was recorded (none duplicate or rejected)")
    print(f"total run time {time.perf_counter() - run_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
