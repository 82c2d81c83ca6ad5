"""Simulated scanner traffic: what a fleet of hand scanners at ports and hubs
would publish over MQTT for N shipments.

Each shipment is booked on a lane of 2-3 legs (air, sea, rail, road) between
real UN/LOCODEs, and its journey is laid out in the recent past: RECEIVED at
the origin; per leg LOADED, DEPARTED, ARRIVED, UNLOADED (and RECEIVED at
each hub), some legs running late; then HANDED_OVER, OUT_FOR_DELIVERY,
sometimes a failed attempt, DELIVERED. Journeys end anywhere from a day ago
to a day from now: what has not happened yet is not scanned, so some
shipments are still under way. Scans go out in the order they happened,
on ``scanners/{site}/{device_id}/scans`` (QoS 1), with the contract's JSON
and ``occurred_at`` in the port's own UTC offset. Among them, per valid scan:

- ``misroutes``: an UNLOADED happens at a port that is not the leg's end
  (a valid scan: the shipment becomes misdirected);
- ``duplicates``: the same message is published twice (recorded once);
- ``malformed``: an extra message that cannot be a scan (bad JSON, unknown
  event code, bad location, or a payload device that is not the topic's),
  which the consumer keeps as a dead letter.

``simulate()`` books the shipments through the composition root, then
publishes at a fixed rate and waits for every PUBACK. ``Planner``,
``traffic()`` and ``Publisher`` are its parts, for benchmarks that need to
drive the same traffic their own way.
"""

from __future__ import annotations

import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple, TextIO

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from adapters.settings import Settings
from tracking.booking import Booking, Recipient
from tracking.codes import ExceptionReason, ScanEvent, SourceKind, TransportMode
from tracking.errors import BookingConflict
from tracking.identifiers import CountryCode, Locode, TrackingNumber, s10_check_digit
from tracking.route import Leg, Route
from tracking.scan import Source

SOURCE = Source(SourceKind.SYSTEM, "simulate")


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


class Message(NamedTuple):
    topic: str
    payload: bytes
    kind: str  # "valid", "misrouted" (a valid scan too), "duplicate" or "malformed"
    scan_id: str | None  # of a valid or misrouted scan


def traffic(
    journeys: Sequence[Journey],
    rng: random.Random,
    *,
    duplicates: float = 0.01,
    malformed: float = 0.005,
    misroutes: float = 0.02,
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    endless: bool = False,
) -> Iterator[Message]:
    """The messages of these journeys' scans, in the order they happened
    (so consecutive messages are for different shipments). Each message is
    built when it is taken, so ``new_id`` may stamp the time it is sent.
    ``endless``: afterwards, follow-up scans of random shipments, forever."""
    encoder = msgspec.json.Encoder()
    planner = Planner(rng)

    def message(journey: Journey, step: Step, kind: str) -> Message:
        site = step.location[2:].lower()
        device = f"{site}-dock-{rng.randint(1, 12)}"
        local = timezone(timedelta(hours=PORTS[step.location].utc_offset))
        scan_id = new_id()
        body = {
            "scan_id": scan_id, "device_id": device, "tracking_number": str(journey.tracking_number),
            "event": step.event.value, "location": step.location,
            "occurred_at": step.at.astimezone(local).isoformat(timespec="seconds"),
            "voyage": step.voyage, "reason": step.reason.value if step.reason else None,
            "lat": PORTS[step.location].lat, "lon": PORTS[step.location].lon,
        }  # fmt: skip
        return Message(f"scanners/{site}/{device}/scans", encoder.encode(body), kind, scan_id)

    def spoil(good: Message) -> Message:
        """Something that cannot be a scan, made from a good one."""
        body = msgspec.json.decode(good.payload)
        body["scan_id"] = new_id()
        how = rng.randrange(4)
        if how == 0:  # cut off mid-way
            return Message(good.topic, encoder.encode(body)[:40], "malformed", None)
        if how == 1:
            body["event"] = rng.choice(("LOADDED", "SCANNED", "unloaded"))
        elif how == 2:
            body["location"] = rng.choice(("ZZZZZ", "HKHK", "DE-HAM"))
        else:
            body["device_id"] = "someone-elses-scanner"
        return Message(good.topic, encoder.encode(body), "malformed", None)

    def sent(journey: Journey, step: Step) -> Iterator[Message]:
        kind = "valid"
        if step.event is ScanEvent.UNLOADED and rng.random() < misroutes:
            wrong = rng.choice([p for p in PORTS if p != step.location])
            step, kind = step._replace(location=wrong), "misrouted"
        good = message(journey, step, kind)
        yield good
        if rng.random() < duplicates:
            yield good._replace(kind="duplicate")
        if rng.random() < malformed:
            yield spoil(good)

    timeline = sorted(((s.at, i, s) for i, j in enumerate(journeys) for s in j.steps),
                      key=lambda item: (item[0], item[1]))  # fmt: skip
    for _, i, step in timeline:
        yield from sent(journeys[i], step)
    while endless and journeys:
        journey = rng.choice(journeys)
        yield from sent(journey, planner.follow_up(journey, datetime.now(UTC)))


class Publisher:
    """A paho-mqtt 2 client publishing at QoS 1 with at most ``inflight``
    messages waiting for their PUBACK: ``send`` blocks beyond that."""

    def __init__(self, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, mqtt5: bool = True, inflight: int = 1000,
                 client_id: str | None = None) -> None:  # fmt: skip
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"simulate-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(inflight)
        self._slots = threading.BoundedSemaphore(inflight)
        self._lock = threading.Lock()
        self.sent = self.acked = self.refused = 0
        self.client.on_publish = self._on_publish
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()

    def _on_publish(self, _: mqtt.Client, __: object, ___: int, reason: object, ____: object) -> None:
        with self._lock:
            self.acked += 1
            # MQTT 5 PUBACK codes from 0x80 are refusals; 0x10 "no matching subscribers" is not.
            if getattr(reason, "is_failure", False):
                self.refused += 1
        self._slots.release()

    def send(self, topic: str, payload: bytes) -> None:
        self._slots.acquire()
        self.sent += 1
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        # Not connected: paho keeps the message and sends it once reconnected.

    def drain(self, timeout: float) -> bool:
        """Wait until every message sent is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.acked < self.sent:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Tally(msgspec.Struct):
    """What a paced run published, by kind."""

    published: int = 0
    valid: int = 0
    duplicates: int = 0
    malformed: int = 0
    misrouted: int = 0
    scan_ids: list[str] = msgspec.field(default_factory=list)


def publish_paced(publisher: Publisher, messages: Iterator[Message], rate: float, *,
                  count: int | None = None, seconds: float | None = None,
                  tally: Tally | None = None) -> Tally:  # fmt: skip
    """Send ``messages`` at ``rate`` per second (0: as fast as the in-flight
    window allows), until they run out, ``count`` are sent or ``seconds``
    have passed. A message is taken from the iterator only when it is due."""
    tally = tally or Tally()
    started = time.perf_counter()
    sent = 0
    while count is None or sent < count:
        now = time.perf_counter()
        if seconds is not None and now - started >= seconds:
            break
        if rate > 0:
            ahead = started + sent / rate - now
            if ahead > 0.001:  # sleeps shorter than that overshoot
                time.sleep(ahead)
        message = next(messages, None)
        if message is None:
            break
        publisher.send(message.topic, message.payload)
        sent += 1
        tally.published += 1
        if message.kind == "duplicate":
            tally.duplicates += 1
        elif message.kind == "malformed":
            tally.malformed += 1
        else:
            tally.valid += 1
            tally.misrouted += message.kind == "misrouted"
            tally.scan_ids.append(message.scan_id)  # type: ignore[arg-type]
    return tally


class SimulationReport(msgspec.Struct):
    shipments: int
    booked: int  # newly booked (already booked with the same data: not counted)
    published: int  # messages: valid + duplicates + malformed
    valid: int  # valid scans, misrouted ones included: each should be recorded once
    duplicates: int  # valid scans published a second time
    malformed: int  # messages that should become dead letters
    misrouted: int
    acked: int  # PUBACKs received
    refused: int  # PUBACKs with a failure reason code
    elapsed: float  # seconds spent publishing, PUBACKs included
    scan_ids: list[str]  # of the valid scans

    @property
    def rate(self) -> float:
        return self.published / self.elapsed if self.elapsed else 0.0


def simulate(
    settings: Settings,
    *,
    shipments: int,
    rate: float,
    duplicates: float = 0.01,
    malformed: float = 0.005,
    misroutes: float = 0.02,
    seed: int | None = None,
    book: bool = True,
    out: TextIO = sys.stderr,
) -> SimulationReport:
    """Book ``shipments`` (when ``book``), then publish their scans to the
    broker of TRACKING_MQTT_URL (or the embedded one) at ``rate`` messages/s
    (0 for as fast as possible) and wait for every PUBACK."""
    from adapters.composition import build_service  # the database only when booking

    rng = random.Random(seed)
    now = datetime.now(UTC)
    planner = Planner(rng)
    journeys = [planner.journey(now) for _ in range(shipments)]
    booked = 0
    if book:
        service = build_service(settings)
        try:
            for i, j in enumerate(journeys, 1):
                try:
                    booked += service.book(j.tracking_number, j.booking, j.route, SOURCE).changed
                except BookingConflict:  # the same seed on the same database, at another time
                    print(f"simulate: {j.tracking_number} is already booked differently", file=out)
                if i % 1000 == 0:
                    print(f"simulate: booked {i:,} of {shipments:,}", file=out, flush=True)
        finally:
            service.close()
    if settings.mqtt_url is not None:
        host, port, username, password = settings.broker_address()
        mqtt5 = True
    else:  # the embedded broker speaks MQTT 3.1.1 only
        host, port, username, password = "127.0.0.1", settings.mqtt_embedded_port, None, None
        mqtt5 = False
    messages = traffic(journeys, rng, duplicates=duplicates, malformed=malformed, misroutes=misroutes)
    print(f"simulate: publishing the scans of {shipments:,} shipments to {host}:{port} at "
          f"{f'{rate:,.0f} messages/s' if rate > 0 else 'full speed'}", file=out, flush=True)  # fmt: skip
    publisher = Publisher(host, port, username=username, password=password, mqtt5=mqtt5)
    started = time.perf_counter()
    try:
        tally = publish_paced(publisher, messages, rate)
        if not publisher.drain(timeout=60):
            print(f"simulate: {publisher.sent - publisher.acked:,} messages without a PUBACK "
                  "after 60 s", file=out)  # fmt: skip
    finally:
        elapsed = time.perf_counter() - started
        publisher.close()
    report = SimulationReport(
        shipments=shipments, booked=booked, published=tally.published, valid=tally.valid,
        duplicates=tally.duplicates, malformed=tally.malformed, misrouted=tally.misrouted,
        acked=publisher.acked, refused=publisher.refused, elapsed=elapsed, scan_ids=tally.scan_ids,
    )  # fmt: skip
    print(f"simulate: {report.published:,} messages in {elapsed:.1f} s ({report.rate:,.0f}/s): "
          f"{report.valid:,} valid ({report.misrouted:,} misrouted), {report.duplicates:,} "
          f"duplicates, {report.malformed:,} malformed; {report.acked:,} PUBACKs", file=out)  # fmt: skip
    return report
