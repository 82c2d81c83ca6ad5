"""The ETA model as an aggregate: publishing a lane model records it.

``EtaModel`` has one stream (a fixed id), and each ``Published`` event holds
a whole model: its version, the deliveries it was fitted on, the fitting's
parameters and every figure. When it was published is the event's
timestamp. A view deriving ETAs uses, for each shipment event, the latest
model published no later than that event was recorded (``ModelBook.at``),
so every ETA names the model version it came from and a rebuild from the
log computes every ETA again exactly as it was shown.
"""

from __future__ import annotations

import bisect
import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate

from tracking.delivery import Delivery
from tracking.errors import InvalidInput
from tracking.eta.fit import Figure, Parameters
from tracking.eta.lanes import Journey, Stage, journey_of
from tracking.eta.window import EtaSource, EtaWindow, ShownEta, unmodelled
from tracking.shipment import Shipment
from tracking.occurred import WHEN_RECORDED
from tracking.scan import Source

ETA_MODEL_ID = uuid.uuid5(uuid.NAMESPACE_URL, "urn:tracking:eta-model")


class LaneModel(msgspec.Struct, kw_only=True, dict=True):
    """One published model, ready to predict with (treat it as immutable)."""

    version: int
    published_at: datetime
    deliveries: int
    parameters: Parameters
    figures: tuple[Figure, ...]
    # The lanes (``Lane.keys()[0]``) where the carrier's estimates were
    # measured better than this model (``tracking.eta.sources``): there the
    # carrier's ETA is shown while it has one.
    carrier_lanes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._index = {(f.key, f.stage): f for f in self.figures}

    def figure(self, keys: tuple[str, ...], stage: Stage) -> Figure | None:
        index: dict[tuple[str, Stage], Figure] = self._index
        for key in keys:
            found = index.get((key, stage))
            if found is not None:
                return found
        return None

    def predict(self, journey: Journey) -> ShownEta | None:
        """The ETA of a journey not yet delivered, from the figures of its
        stage on the narrowest lane that has them; None when none has (the
        plan answers then). Never before its latest scan: it has not been
        delivered by then."""
        stage, anchor = journey.current
        f = self.figure(journey.lane.keys(), stage)
        if f is None:
            return None
        floor = journey.last_at or anchor + timedelta(hours=f.earliest_hours)

        def at(hours: float) -> datetime:
            return max(anchor + timedelta(hours=hours), floor)

        window = EtaWindow(earliest=at(f.earliest_hours), latest=at(f.latest_hours),
                           confidence=self.parameters.confidence, source=EtaSource.LANES)
        return ShownEta(eta=at(f.median_hours), window=window, model_version=self.version)


def shown_eta(shipment: Shipment, delivery: Delivery, model: LaneModel | None) -> ShownEta:
    """The ETA a booked shipment's view shows with this model in force: the
    model's, where it has figures for the shipment's lane and stage and the
    derivation has an ETA (routed, on its route, not returning), unless the
    model names the lane a carrier's and the carrier's estimate gives the
    ETA now; else the derivation's own (plan or carrier). Once delivered,
    the delivery time."""
    booking = shipment.require_booked()
    if model is not None and delivery.eta is not None and delivery.delivered_at is None:
        journey = journey_of(shipment, delivery)
        if journey is not None and journey.lane.keys()[0] in model.carrier_lanes:
            own = unmodelled(shipment.route, delivery, shipment.estimates, booking.deliver_by)
            if own.window is not None and own.window.source is EtaSource.CARRIER:
                return own
        predicted = model.predict(journey) if journey is not None else None
        if predicted is not None:
            return predicted
    return unmodelled(shipment.route, delivery, shipment.estimates, booking.deliver_by)


class EtaModel(Aggregate):
    class Opened(Aggregate.Created):
        """The first lane model is being published."""

        occurred_at = WHEN_RECORDED

    class Published(Aggregate.Event):
        model_version: int
        deliveries: int
        parameters: Parameters
        figures: tuple[Figure, ...]
        source: Source
        carrier_lanes: tuple[str, ...]

        occurred_at = WHEN_RECORDED
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["carrier_lanes"] = []  # before the carrier was scored: the model everywhere

        def apply(self, aggregate: Any) -> None:
            aggregate.latest = self.model()

        def model(self) -> LaneModel:
            return LaneModel(version=self.model_version, published_at=self.timestamp,
                             deliveries=self.deliveries, parameters=self.parameters,
                             figures=tuple(self.figures),
                             carrier_lanes=tuple(self.carrier_lanes))

    def __init__(self) -> None:
        self.latest: LaneModel | None = None

    @staticmethod
    def create_id() -> uuid.UUID:
        return ETA_MODEL_ID

    @classmethod
    def open(cls) -> EtaModel:
        return cls._create(cls.Opened)

    def publish(self, figures: tuple[Figure, ...], *, deliveries: int, parameters: Parameters,
                source: Source, carrier_lanes: tuple[str, ...] = ()) -> int:
        """Record a new model; its version."""
        if deliveries < 1:
            raise InvalidInput("deliveries", "a lane model is fitted on at least one delivery")
        version = (self.latest.version if self.latest else 0) + 1
        self.trigger_event(self.Published, model_version=version, deliveries=deliveries,
                           parameters=parameters, figures=figures, source=source,
                           carrier_lanes=tuple(sorted(carrier_lanes)))
        return version


class ModelBook:
    """The models published so far, oldest first: which was in force when."""

    def __init__(self, models: list[LaneModel] | None = None) -> None:
        self.models: list[LaneModel] = sorted(models or [], key=lambda m: m.version)

    def add(self, model: LaneModel) -> bool:
        if any(m.version == model.version for m in self.models):
            return False
        bisect.insort(self.models, model, key=lambda m: m.version)
        return True

    @property
    def latest_version(self) -> int:
        return self.models[-1].version if self.models else 0

    def at(self, when: datetime) -> LaneModel | None:
        """The latest model published no later than ``when``."""
        found = None
        for m in self.models:
            if m.published_at <= when:
                found = m
        return found
