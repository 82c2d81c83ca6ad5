"""``tracking eta``: publish a lane model fitted on the delivered shipments
in the log, and backtest it against the plan-only ETA.

Both read the log itself (every shipment's events, replayed), not a view:
what a shipment's journey was is the domain's answer from its events. Where
the event store lists its streams (SQLite, PostgreSQL), they are read a
chunk of shipments at a time, each replayed and let go: publishing holds the
fit's columns (some 250 bytes a delivered shipment), not the shipments.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from projections.runner import StreamReader
from tracking.application import ShipmentService
from tracking.codes import SourceKind
from tracking.eta.accuracy import BUCKETS, Accuracy, summarize
from tracking.eta.backtest import Case, backtest, case_of
from tracking.eta.fit import Parameters, fit
from tracking.eta.lanes import Journey
from tracking.eta.model import LaneModel
from tracking.eta.sources import CarrierMoment, carrier_lanes, carrier_moment, score_lanes
from tracking.scan import Source
from tracking.shipment import Shipment

SOURCE = Source(SourceKind.SYSTEM, "eta-publish")
PAGE = 5000
CHUNK = 1000  # shipments read and replayed at a time, stream by stream

Moments = Callable[[Shipment], None]  # told each shipment after each of its events


def shipments(service: ShipmentService, moments: Moments | None = None) -> Iterator[Shipment]:
    """Every shipment in the log, as its events make it; ``moments``, if
    given, is told each shipment as it is after each of its events."""
    recorder = service.recorder
    if isinstance(recorder, StreamReader):
        yield from _by_stream(service, recorder, moments)
        return
    found: dict[Any, Any] = {}
    start = 1
    while True:
        page = service.recorder.select_notifications(start=start, limit=PAGE)
        if not page:
            break
        for n in page:
            event = service.mapper.to_domain_event(n)
            if isinstance(event, Shipment.Event):
                shipment = found[event.originator_id] = event.mutate(
                    found.get(event.originator_id))
                if moments is not None:
                    moments(shipment)
        start = page[-1].id + 1
    yield from found.values()


def _by_stream(service: ShipmentService, recorder: StreamReader,
               moments: Moments | None) -> Iterator[Shipment]:
    ids = recorder.select_originator_ids(service.position())
    to_domain_event = service.mapper.to_domain_event
    for start in range(0, len(ids), CHUNK):
        shipment: Shipment | None = None
        for stored in recorder.select_events_many(ids[start:start + CHUNK]):
            event = to_domain_event(stored)
            if not isinstance(event, Shipment.Event):
                continue
            if shipment is not None and shipment.id != event.originator_id:
                yield shipment
                shipment = None
            mutated = event.mutate(shipment)
            assert isinstance(mutated, Shipment)
            shipment = mutated
            if moments is not None:
                moments(shipment)
        if shipment is not None:
            yield shipment


def cases(service: ShipmentService, moments: Moments | None = None) -> Iterator[Case]:
    """The delivered shipments' cases, one at a time."""
    return (c for s in shipments(service, moments) if (c := case_of(s)) is not None)


class _CarrierMoments:
    """Each shipment's moments at which the carrier's estimate gave its ETA
    (``tracking.eta.sources``), kept until it is seen delivered or not."""

    def __init__(self) -> None:
        self.found: dict[str, list[CarrierMoment]] = {}

    def __call__(self, shipment: Shipment) -> None:
        if (m := carrier_moment(shipment)) is not None:
            self.found.setdefault(str(shipment.tracking_number), []).append(m)


def publish(service: ShipmentService, parameters: Parameters = Parameters(),
            out: TextIO | None = None) -> int:
    out = out or sys.stdout  # at call time: a test may have replaced it
    carrier = _CarrierMoments()
    # The delivered shipments' carrier moments, with the delivery: scored once fitted.
    scored_later: list[tuple[datetime, list[CarrierMoment]]] = []
    delivered = 0

    def journeys() -> Iterator[Journey]:
        nonlocal delivered
        for shipment in shipments(service, carrier):
            those = carrier.found.pop(str(shipment.tracking_number), None)
            case = case_of(shipment)
            if case is None:
                continue
            delivered += 1
            if those and (end := case.journey.delivered_at) is not None:
                scored_later.append((end, those))
            yield case.journey

    figures = fit(journeys(), parameters)
    # Score the carrier against this model on the same moments; the winner by lane.
    model = LaneModel(version=0, published_at=datetime.now(UTC), deliveries=delivered,
                      parameters=parameters, figures=figures)
    scores = score_lanes(scored_later, model)
    won = carrier_lanes(scores)
    version, written = service.eta_models.publish(
        figures, deliveries=delivered, parameters=parameters, source=SOURCE,
        carrier_lanes=won)
    print(f"published ETA model v{version} at position {written.position}: {len(figures)} "
          f"figures from {delivered:,} deliveries (at least {parameters.min_deliveries} a "
          f"lane and stage, half-life {parameters.half_life_days:g} days, "
          f"{parameters.confidence:.0%} windows)", file=out)
    for key, s in sorted(scores.items()):
        print(f"  {key}: carrier MAE {s.carrier_mae:,.1f} h, model {s.model_mae:,.1f} h on "
              f"{s.shipments:,} shipments -> {'carrier' if key in won else 'lanes'}", file=out)
    return version


def run_backtest(service: ShipmentService, *, since: datetime | None, until: datetime | None,
                 parameters: Parameters = Parameters(), out: TextIO | None = None) -> None:
    out = out or sys.stdout
    found = list(cases(service))  # the backtest refits on them at many times: all held
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=90)
    ours, plan = backtest(found, since=since, until=until, parameters=parameters)
    print(f"backtest {since:%Y-%m-%d} to {until:%Y-%m-%d}, {len(found):,} delivered shipments "
          "in the log; each ETA from a model fitted on deliveries before it", file=out)
    _table(("model", summarize(ours)), ("plan only", summarize(plan)), out=out)


def _table(*columns: tuple[str, Accuracy], out: TextIO) -> None:
    def cell(value: float | None, pct: bool = False) -> str:
        return "-" if value is None else f"{value:.1%}" if pct else f"{value:,.1f}"

    print(f"{'':<18}" + "".join(f"{name:>12}" for name, _ in columns), file=out)
    rows = [("deliveries", [f"{a.n:,}" for _, a in columns]),
            ("ETAs", [f"{a.etas:,}" for _, a in columns])]
    rows += [(f"MAE h, {b}", [cell(a.mae_hours[b]) for _, a in columns]) for b in BUCKETS]
    rows += [("coverage", [cell(a.coverage, True) for _, a in columns]),
             ("late recall", [cell(a.late_recall, True) for _, a in columns])]
    for label, cells in rows:
        print(f"{label:<18}" + "".join(f"{c:>12}" for c in cells), file=out)
