"""Replaying delivered shipments with no look-ahead: a prediction at time
t uses a model fitted only on deliveries made before t, and only what had
happened to the shipment by t.

Each delivered shipment gives a ``Case``: its moments, the times its ETA
would have changed (each stage reached; the plan's an hour before its
first scan), each with the journey as it stood then and the plan-only ETA
as the derivation gave it then (scans and customs reports up to then,
no carrier estimates). The model is refitted every ``refit_days`` from
``since``; the moments until the next refit are predicted with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import msgspec

from tracking.derivation import derive
from tracking.eta.accuracy import Scored, score
from tracking.eta.fit import Parameters, fit
from tracking.eta.lanes import Journey, Stage, journey_of, known_before
from tracking.eta.model import LaneModel
from tracking.eta.window import ShownEta, unmodelled
from tracking.shipment import Shipment


class Moment(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    at: datetime
    journey: Journey  # as it stood at ``at``
    plan: ShownEta  # the plan-only ETA then


class Case(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    tracking_number: str
    journey: Journey  # the whole, delivered
    moments: tuple[Moment, ...]


def case_of(shipment: Shipment) -> Case | None:
    """The case of a delivered shipment (None for any other)."""
    if not shipment.is_booked:
        return None
    delivery = shipment.delivery()
    journey = journey_of(shipment, delivery)
    if journey is None or journey.delivered_at is None or len(journey.stages) < 2:
        return None
    scans, marks = shipment.counted_scans(), shipment.counted_customs()
    deliver_by = shipment.require_booked().deliver_by
    moments = []
    first = journey.stages[1][1]
    for stage, when in journey.stages:
        at = first - timedelta(hours=1) if stage is Stage.PLAN else when
        if at >= journey.delivered_at:
            continue
        then = derive(shipment.plans, [s for s in scans if s.occurred_at <= at],
                      [m for m in marks if m.occurred_at <= at])
        as_of = known_before(journey, at)
        if as_of is None or then.eta is None:
            continue
        moments.append(Moment(at=at, journey=as_of,
                              plan=unmodelled(shipment.route, then, (), deliver_by)))
    return Case(tracking_number=str(shipment.tracking_number), journey=journey,
                moments=tuple(moments))


def model_at(cases: Sequence[Case], at: datetime, parameters: Parameters = Parameters(),
             version: int = 0) -> LaneModel:
    """The model fitted on the deliveries made before ``at``, and only those."""
    train = [c.journey for c in cases
             if c.journey.delivered_at is not None and c.journey.delivered_at < at]
    return LaneModel(version=version, published_at=at, deliveries=len(train),
                     parameters=parameters, figures=fit(train, parameters))


def backtest(
    cases: Sequence[Case], *, since: datetime, until: datetime,
    parameters: Parameters = Parameters(), refit_days: float = 30,
) -> tuple[list[Scored], list[Scored]]:
    """(the model's ETAs, the plan-only ETAs), each scored, for every moment
    in [since, until)."""
    ours: list[Scored] = []
    plan: list[Scored] = []
    for model, start, end in _refits(cases, since, until, parameters, refit_days):
        for case, moment in _moments(cases, start, end):
            shown = model.predict(moment.journey) or moment.plan
            ours.append(_score(case, moment, shown))
            plan.append(_score(case, moment, moment.plan))
    return ours, plan


def _refits(cases: Sequence[Case], since: datetime, until: datetime, parameters: Parameters,
            refit_days: float) -> Iterator[tuple[LaneModel, datetime, datetime]]:
    step, start, version = timedelta(days=refit_days), since, 0
    while start < until:
        version += 1
        end = min(start + step, until)
        yield model_at(cases, start, parameters, version), start, end
        start = end


def _moments(cases: Sequence[Case], start: datetime, end: datetime) -> Iterator[tuple[Case, Moment]]:
    for case in cases:
        for moment in case.moments:
            if start <= moment.at < end:
                yield case, moment


def _score(case: Case, moment: Moment, shown: ShownEta) -> Scored:
    assert shown.eta is not None and case.journey.delivered_at is not None
    w = shown.window
    return score(case.tracking_number, w.source.value if w else "plan", eta=shown.eta,
                 earliest=w.earliest if w else None, latest=w.latest if w else None,
                 shown_at=moment.at, delivered_at=case.journey.delivered_at,
                 deliver_by=case.journey.deliver_by)
