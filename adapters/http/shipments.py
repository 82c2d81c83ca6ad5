"""The shipments resource: book, re-route, the agent's full view (now or
``as_of`` a time) and the audit history.

Writes load the aggregate through the service and answer with the view built
from it (projections.views.live_view) and the write's log position; the
current view is read from the shipments view, a later carrier's number
through the links view. Only ``as_of`` and ``history``, which are about the
recorded events themselves, replay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromQuery, JSONBody

from adapters.access_records import AccessRecords
from adapters.http import examples, schemas
from adapters.http.auth import AGENTS, BOOKERS
from adapters.http.personal_data import masked, read_by
from adapters.http.openapi import answer, operation
from adapters.http.responses import json_response
from projections.lookup import NumberLookup
from projections.views import live_view
from tracking.application import ShipmentService
from tracking.codes import SourceKind
from tracking.errors import InvalidInput, ShipmentNotFound
from tracking.identifiers import Locode, TrackingNumber
from tracking.mapper import enc_hook
from tracking.scan import Source
from tracking.shipment import Shipment


def _view_of(service: ShipmentService, shipment: Shipment, reader: tuple[Request[Any, Any, Any],
             AccessRecords, str], position: int | None = None, status: int = 200,
             ) -> Response[bytes]:
    """The agent's view of ``shipment`` as it is now, with the position of
    the write that made it so, if any, and the ETA the views show; its
    recipient opened for the ``reader`` (request, records, what it reads)."""
    view: dict[str, Any] = read_by(reader[0], service, reader[1], msgspec.to_builtins(
        live_view(shipment, service.eta_models.book()), enc_hook=enc_hook), reader[2])
    if position is not None:
        view["position"] = position
    return json_response(view, status)


class ShipmentController(Controller):
    path = "/shipments"

    # -- booking and routing -------------------------------------------------------

    @post("/", sync_to_thread=True, status_code=201, summary="Book a shipment",
          tags=["booking"], **operation(
              BOOKERS, errors=(400, 409, 422, 503),
              description="A route may be empty or absent (routing_status NOT_ROUTED). The same "
                          "booking again answers 200; a different one for a booked number 409.",
              answers={201: answer(schemas.ShipmentWritten, "Booked: the agent's view"),
                       200: answer(schemas.ShipmentWritten, "Already booked so: nothing changed")}))
    def book(
        self,
        data: Annotated[schemas.BookingIn, Body(examples=[examples.BOOKING])],
        request: Request[Any, Any, Any],
        service: NamedDependency[ShipmentService],
        access_records: NamedDependency[AccessRecords],
    ) -> Response[bytes]:
        tn, booking, route = schemas.to_booking(data, request.state.account)
        source = Source(SourceKind.AGENT, request.state.principal)
        result = service.book(tn, booking, route, source)
        return _view_of(service, service.get(tn), (request, access_records, "booking answer"),
                        result.position, 201 if result.changed else 200)

    @post("/{tracking_number:str}/route", sync_to_thread=True, status_code=200,
          summary="Re-route a shipment", tags=["booking"], **operation(
              BOOKERS, errors=(400, 404, 409, 422, 503),
              description="A new route (and destination): a route whose last leg does not end "
                          "at the destination makes routing_status MISROUTED.",
              answers={200: answer(schemas.ShipmentWritten, "Re-routed: the agent's view")}))
    def reroute(
        self,
        tracking_number: schemas.TrackingNumberText, data: JSONBody[schemas.RouteIn],
        request: Request[Any, Any, Any], service: NamedDependency[ShipmentService],
        access_records: NamedDependency[AccessRecords],
    ) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        route = schemas.to_route(data.route)
        destination = (
            Locode(data.destination, "destination") if data.destination else None
        )
        source = Source(SourceKind.AGENT, request.state.principal)
        result = service.shipments.reroute(tn, route, source, destination)
        return _view_of(service, service.get(tn), (request, access_records, "re-route answer"),
                        result.position)

    # -- reading -----------------------------------------------------------------

    @get("/{tracking_number:str}", sync_to_thread=True,
         summary="The agent's full view, now or as_of a time", tags=["reading"], **operation(
             AGENTS, errors=(400, 404, 422, 503),
             description="as_of is a recording time (RFC 3339 with an offset): the view as it "
                         "was then, from what had been recorded by then. Each read of the "
                         "recipient is recorded (GET /api/v1/access-records), with the reason "
                         "given in X-Access-Reason or ?reason=.",
             answers={200: answer(schemas.ShipmentShown, "The agent's view, recipient included")}))
    def shipment(
        self,
        tracking_number: schemas.TrackingNumberText,
        request: Request[Any, Any, Any],
        service: NamedDependency[ShipmentService],
        lookup: NamedDependency[NumberLookup],
        access_records: NamedDependency[AccessRecords],
        as_of: FromQuery[datetime | None] = None,
    ) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        if as_of is not None:
            if as_of.tzinfo is None:
                raise InvalidInput("as_of", "needs a UTC offset (RFC 3339)")
            return _view_of(service, service.shipments.get_as_of(tn, as_of),
                            (request, access_records, "shipment view as_of"))
        view = lookup.full_view(tn)
        if view is None:
            raise ShipmentNotFound(tn)
        return json_response(read_by(request, service, access_records, msgspec.json.decode(view),
                                     "shipment view"))

    @get("/{tracking_number:str}/history", sync_to_thread=True,
         summary="Every recorded event, in recorded order", tags=["reading"], **operation(
             AGENTS, errors=(400, 404, 422, 503),
             answers={200: answer(list[schemas.HistoryEntry], "The shipment's events")}))
    def history(
        self, tracking_number: schemas.TrackingNumberText,
        service: NamedDependency[ShipmentService],
    ) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        return json_response([masked(schemas.history_entry(e)) for e in service.history(tn)])
