"""A simulated history of delivered shipments (``tracking simulate
--history N``), for the ETA model's demo, tests and benchmarks: booked,
scanned and cleared through the real application service, dated in the
past, the same for the same seed.

The parameters (``HISTORY_LANES``; one line each):

- six lanes: sea, air, rail and road, two legs each but the domestic one
  (the main leg, then a road leg from the gateway), over real UN/LOCODEs;
- the main leg's actual transit is lognormal: median = planned hours x
  ``optimism`` (the carrier's plan is that much too short: 1.0 honest,
  1.3 a plan 30% too optimistic), log-sd ``sigma``; the road leg, the same
  with half the sigma;
- long tails: 4% of shipments (a rolled vessel, a missed connection) take
  1.5 to 3 times longer on their main leg;
- a seasonal peak: what leaves between 15 November and 31 December takes
  15% longer;
- customs holds on the border lanes that have them: LODGED on arrival in
  the destination country, then a ``hold_share`` of them HELD for a
  lognormal time (median ``hold_hours``, log-sd 0.6), the others released
  within 2-10 h; then the road leg, out for delivery 8-20 h after its
  arrival, 5% with a failed attempt first (24 h more), delivered 1-6 h
  after going out;
- bookings leave uniformly over the ``days`` (default 365) before ten days
  ago; ``deliver_by`` is the planned arrival plus two days. What would
  happen after now is not recorded (few: the long tails of recent ones).

Every scan, customs report and booking goes through ``ShipmentService``
(book, declare, record_customs_event, record_scans) in the order it
happened, so the events are the real ones; only their recording times
(timestamps) are all "now".
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple, TextIO

from tracking.application import ShipmentService
from tracking.booking import Booking, Recipient
from tracking.codes import ScanEvent, SourceKind, TransportMode
from tracking.customs import CustomsStatus, customs_entry_id
from tracking.declaration import CurrencyCode, Declaration, DeclarationLine, HsCode, Incoterm
from tracking.identifiers import CountryCode, Locode, TrackingNumber, s10_check_digit
from tracking.route import Leg, Route
from tracking.scan import Scan, Source

SOURCE = Source(SourceKind.SYSTEM, "simulate-history")
AIR, SEA, RAIL, ROAD = TransportMode.AIR, TransportMode.SEA, TransportMode.RAIL, TransportMode.ROAD


class HistoryLane(NamedTuple):
    origin: str
    gateway: str | None  # where the main leg ends and the road leg starts (None: one leg)
    destination: str
    mode: TransportMode
    carrier: str
    main_hours: float  # planned
    road_hours: float  # planned (0 without a road leg)
    optimism: float  # actual median / planned
    sigma: float
    hold_share: float  # of border crossings held by customs
    hold_hours: float  # median hold


HISTORY_LANES = (
    HistoryLane("CNSHA", "NLRTM", "DEHAM", SEA, "dhl", 720, 12, 1.15, 0.15, 0.10, 72),
    HistoryLane("HKHKG", "DEFRA", "SESTO", AIR, "postnord", 14, 24, 1.30, 0.40, 0.15, 36),
    HistoryLane("KRSEL", "USLAX", "USNYC", AIR, "usps", 11, 72, 1.00, 0.25, 0.05, 24),
    HistoryLane("SGSIN", "NLRTM", "GBLON", SEA, "royalmail", 560, 30, 1.20, 0.20, 0.08, 48),
    HistoryLane("CNSHA", "DEHAM", "PLWAW", RAIL, "pocztapolska", 430, 16, 1.10, 0.30, 0.0, 0),
    HistoryLane("USLAX", None, "USNYC", ROAD, "usps", 96, 0, 1.05, 0.20, 0.0, 0),
)  # fmt: skip
TAIL_SHARE, TAIL_RANGE = 0.04, (1.5, 3.0)
PEAK_FACTOR = 1.15
FAILED_ATTEMPT_SHARE = 0.05
VOYAGES = {AIR: "CX", SEA: "MAEU", RAIL: "DB", ROAD: "TRK"}


@dataclass
class Planned:
    """One shipment of the history: its booking and route, and what happened
    (scans, customs reports), in time order."""

    tracking_number: TrackingNumber
    lane: HistoryLane
    booking: Booking
    route: Route
    steps: list[Scan | tuple[CustomsStatus, datetime]] = field(default_factory=list)

    @property
    def delivered_at(self) -> datetime:
        last = self.steps[-1]
        assert isinstance(last, Scan)
        return last.occurred_at


class HistoryPlanner:
    def __init__(self, seed: int, now: datetime, days: int = 365,
                 lanes: Sequence[HistoryLane] = HISTORY_LANES) -> None:
        self.rng = random.Random(seed)  # nosec B311: jitter or made-up data, not a secret
        self.seed = seed
        self.now = now
        self.days = days
        self.lanes = lanes
        self.count = 0

    def _hours(self, h: float) -> timedelta:
        return timedelta(hours=h)

    def _tracking_number(self, country: str) -> TrackingNumber:
        serial = f"{self.rng.randrange(10**8):08d}"
        return TrackingNumber(f"H{self.rng.choice('ABCDEFGHJK')}{serial}{s10_check_digit(serial)}{country}")

    def shipment(self) -> Planned:
        rng, h, lane = self.rng, self._hours, self.rng.choice(self.lanes)
        self.count += 1
        start = self.now - timedelta(days=10 + rng.uniform(0, self.days))
        peak = PEAK_FACTOR if (start.month, start.day) >= (11, 15) else 1.0
        tail = rng.uniform(*TAIL_RANGE) if rng.random() < TAIL_SHARE else 1.0
        actual_main = lane.main_hours * lane.optimism * math.exp(rng.gauss(0, lane.sigma)) * peak * tail
        # The plan: the main leg a day after booking, the road leg 12 h after it arrives.
        dep0 = start + h(24)
        first_end = lane.gateway or lane.destination
        legs = [Leg(voyage=f"{VOYAGES[lane.mode]}{rng.randint(100, 9999)}", mode=lane.mode,
                    from_=Locode(lane.origin), to=Locode(first_end), departs_at=dep0,
                    arrives_at=dep0 + h(lane.main_hours))]
        if lane.gateway:
            dep1 = legs[0].arrives_at + h(12)
            legs.append(Leg(voyage=f"TRK{rng.randint(100, 9999)}", mode=ROAD, from_=Locode(lane.gateway),
                            to=Locode(lane.destination), departs_at=dep1, arrives_at=dep1 + h(lane.road_hours)))
        route = Route(tuple(legs))
        tn = self._tracking_number(lane.origin[:2])
        country = lane.destination[:2]
        booking = Booking(carrier=lane.carrier, origin=Locode(lane.origin),
                          destination=Locode(lane.destination),
                          deliver_by=legs[-1].arrives_at + timedelta(days=2),
                          recipient=Recipient("Alva Lindqvist", "00000", CountryCode(country)))
        p = Planned(tn, lane, booking, route)
        n = 0

        def scan(event: ScanEvent, where: str, at: datetime, voyage: str | None = None) -> datetime:
            nonlocal n
            n += 1
            p.steps.append(Scan(scan_id=f"hist-{self.seed}-{self.count}-{n}", tracking_number=tn,
                                event=event, location=Locode(where), occurred_at=at, voyage=voyage,
                                device_id=f"{where.lower()}-hist"))
            return at

        t = scan(ScanEvent.RECEIVED, lane.origin, start + h(rng.uniform(2, 12)))
        departed = max(dep0 + h(rng.uniform(0, 4)), t + h(1))
        scan(ScanEvent.LOADED, lane.origin, departed - h(2), legs[0].voyage)
        scan(ScanEvent.DEPARTED, lane.origin, departed, legs[0].voyage)
        arrived = scan(ScanEvent.ARRIVED, first_end, departed + h(actual_main), legs[0].voyage)
        t = scan(ScanEvent.UNLOADED, first_end, arrived + h(rng.uniform(1, 3)), legs[0].voyage)
        if lane.origin[:2] != country:
            lodged = t + h(rng.uniform(0.5, 2))
            p.steps.append((CustomsStatus.LODGED, lodged))
            if rng.random() < lane.hold_share:
                held = lodged + h(rng.uniform(1, 4))
                p.steps.append((CustomsStatus.HELD, held))
                t = held + h(lane.hold_hours * math.exp(rng.gauss(0, 0.6)))
            else:
                t = lodged + h(rng.uniform(2, 10))
            p.steps.append((CustomsStatus.RELEASED, t))
        if lane.gateway:
            dep1 = max(legs[1].departs_at, t + h(6)) + h(rng.uniform(0, 4))
            scan(ScanEvent.LOADED, lane.gateway, dep1 - h(1), legs[1].voyage)
            road = lane.road_hours * lane.optimism * math.exp(rng.gauss(0, lane.sigma / 2)) * peak
            t = scan(ScanEvent.UNLOADED, lane.destination, dep1 + h(road), legs[1].voyage)
        t = scan(ScanEvent.OUT_FOR_DELIVERY, lane.destination, t + h(rng.uniform(8, 20)))
        if rng.random() < FAILED_ATTEMPT_SHARE:
            scan(ScanEvent.DELIVERY_ATTEMPTED, lane.destination, t + h(rng.uniform(1, 5)))
            t = scan(ScanEvent.OUT_FOR_DELIVERY, lane.destination, t + h(24))
        scan(ScanEvent.DELIVERED, lane.destination, t + h(rng.uniform(1, 6)))
        return p


def _declaration(p: Planned) -> Declaration:
    return Declaration(
        tracking_number=p.tracking_number, destination_country=CountryCode(p.lane.destination[:2]),
        incoterm=Incoterm("DAP"), currency=CurrencyCode("EUR"),
        lines=(DeclarationLine(description="cotton t-shirt", hs_code=HsCode("610910"), quantity=2,
                               unit_value=Decimal("12.50"), origin_country=CountryCode(p.lane.origin[:2])),))


def record(service: ShipmentService, p: Planned, now: datetime) -> None:
    """Book, declare, and record what happened before ``now``, in order."""
    service.book(p.tracking_number, p.booking, p.route, SOURCE)
    record_steps(service, p, now)


def record_steps(service: ShipmentService, p: Planned, now: datetime) -> None:
    """Of a booked shipment: declare, and record what happened before ``now``, in order."""
    if any(isinstance(s, tuple) for s in p.steps):
        service.customs.declare(_declaration(p), SOURCE)
    entry = customs_entry_id(p.tracking_number, p.lane.destination[:2])
    pending: list[Scan] = []
    for step in p.steps:
        at = step.occurred_at if isinstance(step, Scan) else step[1]
        if at >= now:
            break
        if isinstance(step, Scan):
            pending.append(step)
            continue
        if pending:
            service.record_scans(pending, SOURCE)
            pending = []
        reason = "INSPECTION" if step[0] is CustomsStatus.HELD else None
        service.customs.record_customs_event(entry, step[0], occurred_at=at, source=SOURCE, reason=reason)
    if pending:
        service.record_scans(pending, SOURCE)


def simulate_history(service: ShipmentService, shipments: int, *, seed: int = 1, days: int = 365,
                     now: datetime | None = None, out: TextIO | None = None) -> list[Planned]:
    """Record ``shipments`` simulated shipments; what was planned, for tests.
    ``now`` defaults to today's midnight (UTC), so a seed gives the same
    history all day. Progress goes to ``out`` when given."""
    now = now or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    planner = HistoryPlanner(seed, now, days)
    planned = [planner.shipment() for _ in range(shipments)]
    for i, p in enumerate(planned, 1):
        record(service, p, now)
        if out is not None and i % 1000 == 0:
            print(f"simulate: recorded {i:,} of {shipments:,} shipments", file=out, flush=True)
    return planned
