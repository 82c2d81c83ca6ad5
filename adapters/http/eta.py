"""The ETA endpoints: every ETA a shipment was shown, and how accurate the
ETAs shown were over delivered shipments (the ETA history read model,
projections/etahistory.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from adapters.http import openapi
from adapters.http.auth import BOOKERS
from adapters.http.constraints import optional_query
from adapters.http.openapi import operation
from adapters.http.ownership import scope
from adapters.http.responses import json_response
from adapters.http.schemas import TrackingNumberText
from projections.etahistory import EtaHistoryView, EtaShown
from tracking.codes import TransportMode
from tracking.errors import InvalidInput, ShipmentNotFound
from tracking.eta.accuracy import ALL, Accuracy, Scored, Sum
from tracking.eta.window import EtaWindow
from tracking.identifiers import Locode, TrackingNumber

LocodeQuery = optional_query(Locode)
ModeQuery = optional_query(options=TransportMode)
CarrierQuery = Annotated[str | None, QueryParameter(schema_extra={"minLength": 1, "maxLength": 64})]


class EtaScore(msgspec.Struct, kw_only=True):
    error_hours: float  # eta - delivered_at: positive when the ETA was later
    inside: bool | None  # delivered inside the window shown (null: no window)
    hours_out: float  # how long before the delivery it was shown


class EtaShownOut(msgspec.Struct, kw_only=True):
    shown_at: datetime  # when it was recorded (shown)
    known_at: datetime  # the latest scan or customs report it knew of
    eta: datetime
    eta_window: EtaWindow | None
    source: str
    model_version: int | None
    score: EtaScore | None = None  # once delivered


class EtaHistoryOut(msgspec.Struct, kw_only=True):
    tracking_number: str
    delivered_at: datetime | None
    deliver_by: datetime | None
    etas: list[EtaShownOut]


class AccuracyOut(Accuracy, kw_only=True):
    """Over every ETA shown; ``by_source``: the same for the ETAs of each
    source (lanes: ours; plan; carrier: the carrier's estimates)."""

    by_source: dict[str, Accuracy]


def _shown(s: EtaShown, scored: Scored | None) -> EtaShownOut:
    score = None if scored is None else EtaScore(
        error_hours=round(scored.error_hours, 2), inside=scored.inside,
        hours_out=round(scored.hours_out, 2))
    return EtaShownOut(shown_at=s.shown_at, known_at=s.known_at, eta=s.eta,
                       eta_window=s.eta_window,
                       source=s.eta_window.source.value if s.eta_window else "plan",
                       model_version=s.model_version, score=score)


class EtaController(Controller):
    """The ETA endpoints, reading the ETA history view (projections.etahistory)."""

    tags = ["eta"]

    @get("/shipments/{tracking_number:str}/eta-history", sync_to_thread=True,
         summary="Every ETA a shipment was shown", **operation(
             BOOKERS, errors=(400, 404, 422, 503),
             description="Oldest first: when each was shown, as of what, its window, "
                         "source and model version; once delivered, each scored.",
             answers={200: openapi.answer(EtaHistoryOut, "The ETAs shown")}))
    def eta_history(
        self, eta_history: NamedDependency[EtaHistoryView],
        tracking_number: TrackingNumberText,
    ) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        record = eta_history.record(str(tn))
        if record is None:
            raise ShipmentNotFound(tn)
        scored = {id(s): sc for s, sc in record.scored()}
        return json_response(EtaHistoryOut(
            tracking_number=record.tracking_number, delivered_at=record.delivered_at,
            deliver_by=record.deliver_by,
            etas=[_shown(s, scored.get(id(s))) for s in record.shown]))

    @get("/eta/accuracy", sync_to_thread=True,
         summary="How accurate the ETAs shown were, over delivered shipments", **operation(
             BOOKERS, errors=(400, 422, 503),
             description="n: deliveries; mae_hours by how long before the delivery the "
                         "ETA was shown (>7d, 3-7d, 1-3d, <1d); coverage: the share "
                         "delivered inside the window shown; late_recall: the share of "
                         "deliveries after deliver_by that an ETA had flagged late. "
                         "A merchant's is over its own account's shipments only.",
             answers={200: openapi.answer(AccuracyOut, "The accuracy")}))
    def accuracy(
        self, request: Request[Any, Any, Any],
        eta_history: NamedDependency[EtaHistoryView], origin: LocodeQuery = None,
        destination: LocodeQuery = None, mode: ModeQuery = None, carrier: CarrierQuery = None,
    ) -> Response[bytes]:
        if carrier is not None and not (0 < len(carrier) <= 64 and carrier.isprintable()):
            raise InvalidInput("carrier", "must be 1 to 64 printable characters")
        if mode is not None and mode.lower() not in {m.value for m in TransportMode}:
            raise InvalidInput("mode", f"{mode!r} is not one of "
                               f"{', '.join(m.value for m in TransportMode)}")
        sums = eta_history.sums(
            origin=str(Locode(origin, "origin")) if origin else None,
            destination=str(Locode(destination, "destination")) if destination else None,
            mode=mode.lower() if mode else None, carrier=carrier,
            account=scope(request))  # a merchant's: over its own shipments only
        overall = sums.pop(ALL, Sum()).accuracy()
        return json_response(AccuracyOut(
            **msgspec.structs.asdict(overall),
            by_source={k: v.accuracy() for k, v in sorted(sums.items())}))
