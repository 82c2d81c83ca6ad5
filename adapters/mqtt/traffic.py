"""Simulated scanner traffic: the MQTT messages of simulated journeys' scans
(``adapters.mqtt.journeys``), in the order they happened, with duplicates,
misroutes and malformed messages mixed in."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

import msgspec

from adapters.mqtt.journeys import PORTS, Journey, Planner, Step
from tracking.codes import ScanEvent


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
