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
publishes at a fixed rate and waits for every PUBACK. Its parts, for
benchmarks that need to drive the same traffic their own way (importable
from here too): ``Planner`` (``adapters.mqtt.journeys``), ``traffic()``
(``adapters.mqtt.traffic``), ``Publisher`` and ``publish_paced``
(``adapters.mqtt.publisher``).
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

import msgspec

from adapters.mqtt.journeys import Journey, Planner
from adapters.mqtt.publisher import Publisher, Tally, publish_paced
from adapters.mqtt.traffic import Message, traffic
from adapters.settings import Settings
from tracking.codes import SourceKind
from tracking.errors import BookingConflict
from tracking.scan import Source

__all__ = ["SOURCE", "Journey", "Message", "Planner", "Publisher", "SimulationReport", "Tally",
           "publish_paced", "simulate", "traffic"]

SOURCE = Source(SourceKind.SYSTEM, "simulate")

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
    out: TextIO | None = None,
) -> SimulationReport:
    """Book ``shipments`` (when ``book``), then publish their scans to the
    broker of TRACKING_MQTT_URL (or the embedded one) at ``rate`` messages/s
    (0 for as fast as possible) and wait for every PUBACK."""
    from adapters.composition import build_service  # the database only when booking

    out = out or sys.stderr  # at call time: a default bound at import outlives pytest's capture

    rng = random.Random(seed)  # nosec B311: jitter or made-up data, not a secret
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
        mqtt5 = settings.mqtt_protocol == "5"
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
