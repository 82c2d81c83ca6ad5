"""Why this status: each derived field of a shipment and each open
exception with the rule that produced it and the events that decided it
(``tracking.explanation``), now or ``as_of`` a recording time."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from adapters.http import schemas
from adapters.http.auth import AGENTS
from adapters.http.openapi import answer, operation
from adapters.http.responses import json_response
from tracking.application import ShipmentService
from tracking.errors import InvalidInput, ShipmentNotFound
from tracking.explanation import Explanation, explain
from tracking.identifiers import TrackingNumber


class CitedOut(msgspec.Struct, omit_defaults=True):
    """An event cited; a carrier's names the code mapping that translated it."""

    version: int
    type: str
    occurred_at: datetime
    mapping: str | None = None


class ExplainedOut(msgspec.Struct, omit_defaults=True):
    """One field (``field`` "exception": one open exception, its kind the value)."""

    field: str
    value: Any
    rule: str
    because: list[CitedOut]
    details: str | None = None


def explanation_at(
    service: ShipmentService, tracking_number: TrackingNumber, as_of: datetime | None
) -> Explanation:
    """The explanation from the shipment's history, cut at ``as_of`` if given."""
    events: Any = service.history(tracking_number)
    if as_of is not None:
        if as_of.tzinfo is None:
            raise InvalidInput("as_of", "needs a UTC offset (RFC 3339)")
        events = itertools.takewhile(lambda e: e.timestamp <= as_of, events)
    try:
        return explain(events)
    except ValueError:
        raise ShipmentNotFound(tracking_number, as_of=as_of) from None


class ExplainController(Controller):
    path = "/shipments"
    tags = ["reading"]

    @get("/{tracking_number:str}/explain", sync_to_thread=True,
         summary="Why each derived field is what it is", **operation(
             AGENTS, errors=(400, 404, 422, 503),
             description="For status, transport_status, routing_status, last_location, "
                         "next_expected, eta, misdirected and each open exception: the "
                         "rule that produced the value and the events that decided it, "
                         "by version in the history. as_of (a recording time) explains "
                         "the view as it was then.",
             answers={200: answer(list[ExplainedOut], "Each field and why")}))
    def explain(
        self, service: NamedDependency[ShipmentService],
        tracking_number: schemas.TrackingNumberText,
        as_of: FromQuery[datetime | None] = None,
    ) -> Response[bytes]:
        found = explanation_at(service, TrackingNumber(tracking_number), as_of)
        return json_response(list(found.fields))
