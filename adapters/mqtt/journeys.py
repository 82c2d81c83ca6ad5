"""Simulated journeys: shipments booked on lanes of 2-3 legs between real
UN/LOCODEs, and the scans that happened on the way (``Planner``), for the
scanner traffic of ``adapters.mqtt.simulate``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from tracking.booking import Booking, Recipient
from tracking.codes import ExceptionReason, ScanEvent, TransportMode
from tracking.identifiers import CountryCode, Locode, TrackingNumber, s10_check_digit
from tracking.route import Leg, Route


class Port(NamedTuple):
    lat: float
    lon: float
    utc_offset: int  # hours, standard time: scanners stamp local time
    postcode: str  # a recipient's, when the port is a destination


PORTS = {
    "HKHKG": Port(22.31, 113.92, 8, "999077"), "CNSHA": Port(31.23, 121.47, 8, "200000"),
    "JPTYO": Port(35.55, 139.78, 9, "144-0041"), "SGSIN": Port(1.36, 103.99, 8, "819663"),
    "KRSEL": Port(37.46, 126.44, 9, "22382"), "AEDXB": Port(25.25, 55.36, 4, "00000"),
    "NLRTM": Port(51.92, 4.48, 1, "3011 AD"), "DEHAM": Port(53.55, 9.99, 1, "20095"),
    "DEFRA": Port(50.04, 8.56, 1, "60549"), "SESTO": Port(59.33, 18.07, 1, "114 55"),
    "GBLON": Port(51.47, -0.45, 0, "SW1A 1AA"), "PLWAW": Port(52.17, 20.97, 1, "00-906"),
    "USNYC": Port(40.64, -73.78, -5, "10001"), "USLAX": Port(33.94, -118.41, -8, "90045"),
}  # fmt: skip
AIR, SEA, RAIL, ROAD = TransportMode.AIR, TransportMode.SEA, TransportMode.RAIL, TransportMode.ROAD
# Legs as (from, to, mode, fastest hours, slowest hours); each lane 2-3 legs.
LANES = (
    (("HKHKG", "DEFRA", AIR, 12, 15), ("DEFRA", "SESTO", ROAD, 20, 30)),
    (("CNSHA", "NLRTM", SEA, 600, 760), ("NLRTM", "DEHAM", RAIL, 10, 20)),
    (("JPTYO", "HKHKG", AIR, 4, 6), ("HKHKG", "USNYC", AIR, 15, 18)),
    (("KRSEL", "USLAX", AIR, 10, 12), ("USLAX", "USNYC", ROAD, 60, 90)),
    (("SGSIN", "NLRTM", SEA, 500, 620), ("NLRTM", "DEHAM", ROAD, 7, 10), ("DEHAM", "SESTO", ROAD, 14, 26)),
    (("CNSHA", "SGSIN", SEA, 100, 140), ("SGSIN", "AEDXB", AIR, 7, 9), ("AEDXB", "GBLON", AIR, 7, 9)),
    (("HKHKG", "AEDXB", AIR, 8, 10), ("AEDXB", "DEFRA", AIR, 6, 8), ("DEFRA", "PLWAW", ROAD, 10, 16)),
    (("CNSHA", "HKHKG", ROAD, 20, 30), ("HKHKG", "GBLON", AIR, 13, 15)),
)  # fmt: skip
VOYAGE_PREFIXES = {
    AIR: ("CX", "LH", "EK", "KE"), SEA: ("MAEU", "MSCU", "COSU"), RAIL: ("DB",), ROAD: ("TRK",),
}  # fmt: skip
CARRIERS = {"SE": "postnord", "DE": "dhl", "US": "usps", "GB": "royalmail", "PL": "pocztapolska"}
RECIPIENTS = ("Alva Lindqvist", "Jonas Becker", "Maria Lopez", "Kenji Sato", "Olivia Brown")


class Step(NamedTuple):
    """One scan of a journey, as it happens."""

    event: ScanEvent
    location: str
    at: datetime
    voyage: str | None = None
    reason: ExceptionReason | None = None


@dataclass(frozen=True)
class Journey:
    tracking_number: TrackingNumber
    booking: Booking
    route: Route
    steps: tuple[Step, ...]  # those that have happened, in time order


class Planner:
    """Lays out journeys: an S10 tracking number, a booking, the planned
    route, and the scans that happened (late legs included)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def hours(self, lo: float, hi: float) -> timedelta:
        return timedelta(hours=self.rng.uniform(lo, hi))

    def tracking_number(self, country: str) -> TrackingNumber:
        serial = f"{self.rng.randrange(10**8):08d}"
        service = self.rng.choice("ELRCV") + self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        return TrackingNumber(f"{service}{serial}{s10_check_digit(serial)}{country}")

    def journey(self, now: datetime) -> Journey:
        lane = self.rng.choice(LANES)
        h = self.hours
        # Planned legs, from the start of the journey; a hub stop of 6-30 h between them.
        planned, t = [], h(8, 24)
        for frm, to, mode, lo, hi in lane:
            voyage = f"{self.rng.choice(VOYAGE_PREFIXES[mode])}{self.rng.randint(100, 9999)}"
            planned.append((frm, to, mode, voyage, t, t + h(lo, hi)))
            t = planned[-1][5] + h(6, 30)
        steps: list[tuple[ScanEvent, str, timedelta, str | None, ExceptionReason | None]] = [
            (ScanEvent.RECEIVED, lane[0][0], planned[0][4] - h(6, 8), None, None)
        ]
        late = timedelta(0)  # a late leg makes everything after it late too
        for i, (frm, to, _, voyage, departs, arrives) in enumerate(planned):
            if i:
                steps.append((ScanEvent.RECEIVED, frm, planned[i - 1][5] + late + h(2, 5), None, None))
            if self.rng.random() < 0.15:
                late += h(2, 18)
            steps += [
                (ScanEvent.LOADED, frm, departs + late - h(1, 3), voyage, None),
                (ScanEvent.DEPARTED, frm, departs + late + h(0, 0.5), voyage, None),
                (ScanEvent.ARRIVED, to, arrives + late + h(0, 0.5), voyage, None),
                (ScanEvent.UNLOADED, to, arrives + late + h(1, 2), voyage, None),
            ]
        home, end = lane[-1][1], planned[-1][5] + late
        steps += [(ScanEvent.HANDED_OVER, home, end + h(3, 6), None, None),
                  (ScanEvent.OUT_FOR_DELIVERY, home, end + h(16, 22), None, None)]  # fmt: skip
        if self.rng.random() < 0.1:
            address = ExceptionReason.ADDRESS_PROBLEM
            steps += [(ScanEvent.DELIVERY_ATTEMPTED, home, end + h(23, 24), None, address),
                      (ScanEvent.OUT_FOR_DELIVERY, home, end + h(40, 44), None, None)]  # fmt: skip
        steps.append((ScanEvent.DELIVERED, home, steps[-1][2] + h(1, 5), None, None))
        # The journey ends between a day ago and a day from now; what has not happened is not scanned.
        start = now + h(-24, 24) - steps[-1][2]
        route = Route(tuple(
            Leg(voyage=voyage, mode=mode, from_=Locode(frm), to=Locode(to),
                departs_at=start + departs, arrives_at=start + arrives)
            for frm, to, mode, voyage, departs, arrives in planned
        ))  # fmt: skip
        country = home[:2]
        booking = Booking(
            carrier=CARRIERS[country], origin=Locode(lane[0][0]), destination=Locode(home),
            deliver_by=route.legs[-1].arrives_at + timedelta(days=3),
            recipient=Recipient(self.rng.choice(RECIPIENTS), PORTS[home].postcode, CountryCode(country)),
        )  # fmt: skip
        happened = tuple(
            Step(event, loc, start + at, voyage, reason)
            for event, loc, at, voyage, reason in steps
            if start + at < now
        )
        return Journey(self.tracking_number(lane[0][0][:2]), booking, route, happened)

    def follow_up(self, journey: Journey, now: datetime) -> Step:
        """A scan that may come at any time: a hub re-scan, a weather hold."""
        leg = self.rng.choice(journey.route.legs)
        event, reason = self.rng.choice(
            [(ScanEvent.RECEIVED, None), (ScanEvent.ARRIVED, None), (ScanEvent.UNLOADED, None),
             (ScanEvent.EXCEPTION, ExceptionReason.WEATHER)]
        )  # fmt: skip
        voyage = leg.voyage if event in (ScanEvent.ARRIVED, ScanEvent.UNLOADED) else None
        return Step(event, str(leg.to), now - self.hours(0, 6), voyage, reason)
