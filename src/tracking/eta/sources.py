"""Which source wins each lane: the carrier's estimates or our lane model.

Both are scored the same way, on the same moments: after each event of a
delivered shipment (in its stream's order, so only what was known then)
at which the carrier's estimate gives the derivation's ETA (``plan_source``
is ``carrier``), the carrier's ETA then and the lane model's prediction from
the journey as it stood then are each compared with the delivery. A lane
whose carrier ETAs have the lower mean absolute error, over at least
``minimum`` delivered shipments, is the carrier's: the published model
names it (``LaneModel.carrier_lanes``) and the views show the carrier's ETA
there while it has one. Elsewhere the model's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from tracking.eta.lanes import Journey, journey_of
from tracking.eta.model import LaneModel
from tracking.eta.window import EtaSource, plan_source
from tracking.shipment import Shipment

MINIMUM_SHIPMENTS = 10


class CarrierMoment(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    journey: Journey  # as it stood then
    carrier_eta: datetime


def carrier_moment(shipment: Shipment) -> CarrierMoment | None:
    """After an event: the moment to score, if the carrier's estimate gives
    the ETA of this booked, undelivered shipment now (None otherwise)."""
    if not shipment.is_booked or not shipment.estimates:
        return None
    delivery = shipment.delivery()
    if delivery.eta is None or delivery.delivered_at is not None:
        return None
    if plan_source(shipment.route, delivery, shipment.estimates) is not EtaSource.CARRIER:
        return None
    journey = journey_of(shipment, delivery)
    if journey is None:
        return None
    return CarrierMoment(journey=journey, carrier_eta=delivery.eta)


class LaneScore(msgspec.Struct, kw_only=True):
    shipments: int = 0
    etas: int = 0
    carrier_error: float = 0.0  # sums of absolute errors, hours
    model_error: float = 0.0

    @property
    def carrier_mae(self) -> float:
        return self.carrier_error / self.etas if self.etas else 0.0

    @property
    def model_mae(self) -> float:
        return self.model_error / self.etas if self.etas else 0.0


def score_lanes(
    moments: Iterable[tuple[datetime, list[CarrierMoment]]], model: LaneModel
) -> dict[str, LaneScore]:
    """By lane key: the carrier's and the model's errors on the moments of
    each delivered shipment (its delivery time, its carrier moments) where
    both had an ETA."""
    found: dict[str, LaneScore] = {}
    for delivered_at, those in moments:
        counted = False
        for m in those:
            predicted = model.predict(m.journey)
            if predicted is None or predicted.eta is None:
                continue
            s = found.setdefault(m.journey.lane.keys()[0], LaneScore())
            s.etas += 1
            s.carrier_error += abs((m.carrier_eta - delivered_at).total_seconds()) / 3600
            s.model_error += abs((predicted.eta - delivered_at).total_seconds()) / 3600
            if not counted:
                s.shipments += 1
                counted = True
    return found


def carrier_lanes(scores: dict[str, LaneScore],
                  minimum: int = MINIMUM_SHIPMENTS) -> tuple[str, ...]:
    """The lanes the carrier wins: lower MAE, on at least ``minimum`` shipments."""
    return tuple(sorted(k for k, s in scores.items()
                        if s.shipments >= minimum and s.carrier_mae < s.model_mae))
