"""``tracking eta``: publish a lane model fitted on the delivered shipments
in the log, and backtest it against the plan-only ETA.

Both read the log itself (every shipment's events, replayed), not a view:
what a shipment's journey was is the domain's answer from its events.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from tracking.application import ShipmentService
from tracking.codes import SourceKind
from tracking.eta.accuracy import BUCKETS, Accuracy, summarize
from tracking.eta.backtest import Case, backtest, case_of
from tracking.eta.fit import Parameters, fit
from tracking.eta.model import LaneModel
from tracking.eta.sources import CarrierMoment, carrier_lanes, carrier_moment, score_lanes
from tracking.scan import Source
from tracking.shipment import Shipment

SOURCE = Source(SourceKind.SYSTEM, "eta-publish")
PAGE = 5000


def shipments(service: ShipmentService,
              carrier: dict[str, list[CarrierMoment]] | None = None) -> Iterator[Shipment]:
    """Every shipment in the log, as its events make it (the log read once,
    in order); into ``carrier``, if given, each shipment's moments at which
    the carrier's estimate gave its ETA (``tracking.eta.sources``)."""
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
                if carrier is not None and (m := carrier_moment(shipment)) is not None:
                    carrier.setdefault(str(shipment.tracking_number), []).append(m)
        start = page[-1].id + 1
    yield from found.values()


def cases(service: ShipmentService,
          carrier: dict[str, list[CarrierMoment]] | None = None) -> list[Case]:
    return [c for s in shipments(service, carrier) if (c := case_of(s)) is not None]


def publish(service: ShipmentService, parameters: Parameters = Parameters(),
            out: TextIO | None = None) -> int:
    out = out or sys.stdout  # at call time: a test may have replaced it
    carrier: dict[str, list[CarrierMoment]] = {}
    found = cases(service, carrier)
    delivered = [c.journey for c in found]
    figures = fit(delivered, parameters)
    # Score the carrier against this model on the same moments; the winner by lane.
    model = LaneModel(version=0, published_at=datetime.now(UTC), deliveries=len(delivered),
                      parameters=parameters, figures=figures)
    ends = {c.tracking_number: c.journey.delivered_at for c in found}
    scores = score_lanes(
        ((end, those) for number, those in carrier.items()
         if (end := ends.get(number)) is not None), model)
    won = carrier_lanes(scores)
    version, written = service.publish_eta_model(
        figures, deliveries=len(delivered), parameters=parameters, source=SOURCE,
        carrier_lanes=won)
    print(f"published ETA model v{version} at position {written.position}: {len(figures)} "
          f"figures from {len(delivered):,} deliveries (at least {parameters.min_deliveries} a "
          f"lane and stage, half-life {parameters.half_life_days:g} days, "
          f"{parameters.confidence:.0%} windows)", file=out)
    for key, s in sorted(scores.items()):
        print(f"  {key}: carrier MAE {s.carrier_mae:,.1f} h, model {s.model_mae:,.1f} h on "
              f"{s.shipments:,} shipments -> {'carrier' if key in won else 'lanes'}", file=out)
    return version


def run_backtest(service: ShipmentService, *, since: datetime | None, until: datetime | None,
                 parameters: Parameters = Parameters(), out: TextIO | None = None) -> None:
    out = out or sys.stdout
    found = cases(service)
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
