"""The ETA a reader is shown: the single most likely time, and a window
with the share of deliveries it is meant to contain and where it came from.

``source`` says what the ETA was derived from: ``lanes`` (our model of
deliveries on the lane, see ``tracking.eta.fit``), ``carrier`` (the
carrier's latest arrival estimate) or ``plan`` (the route's planned arrival
shifted by the delay observed). Only a ``lanes`` window has a measured
``confidence``; the others span from the ETA to the promised date (the
booking's ``deliver_by``), as the pages' planned window does, and say
``confidence: null`` because nobody measured them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

import msgspec

from tracking.carrier import Estimate
from tracking.delivery import Delivery
from tracking.progress import planned_window
from tracking.route import Route


class EtaSource(StrEnum):
    PLAN = "plan"
    CARRIER = "carrier"
    LANES = "lanes"


class EtaWindow(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    earliest: datetime
    latest: datetime
    confidence: float | None
    source: EtaSource


class ShownEta(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What the tracking view shows: ``eta`` and its window, and the model
    version it came from (None unless the source is ``lanes``)."""

    eta: datetime | None
    window: EtaWindow | None
    model_version: int | None = None


def plan_source(route: Route, delivery: Delivery, estimates: Sequence[Estimate]) -> EtaSource:
    """Where the derivation's own ETA came from: a carrier's arrival estimate
    at the route's end (used until the last leg's arrival is scanned), else
    the plan."""
    if delivery.eta is None or not route.legs or delivery.delivered_at is not None:
        return EtaSource.PLAN
    end = route.legs[-1].to
    for estimate in reversed(estimates):
        if estimate.is_arrival and estimate.location == end:
            return EtaSource.CARRIER if estimate.expected_at == delivery.eta else EtaSource.PLAN
    return EtaSource.PLAN


def unmodelled(
    route: Route, delivery: Delivery, estimates: Sequence[Estimate], deliver_by: datetime | None
) -> ShownEta:
    """The ETA without a lane model: the derivation's own, with the planned
    window; once delivered, the delivery time and no window."""
    if delivery.eta is None or delivery.delivered_at is not None:
        return ShownEta(eta=delivery.eta, window=None)
    planned = planned_window(delivery.eta, deliver_by)
    assert planned is not None
    return ShownEta(eta=delivery.eta, window=EtaWindow(
        earliest=planned.earliest, latest=planned.latest, confidence=None,
        source=plan_source(route, delivery, estimates)))
