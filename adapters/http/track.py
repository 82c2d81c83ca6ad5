"""GET /api/v1/track/{tracking_number}: the customer's view of a parcel,
public (no token, no personal data). It reads views only: the shipment's
own, or, for a later carrier's number, the one the links view names; a
number neither knows is a 404 without replaying anything."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from adapters.http import examples, schemas
from adapters.http.openapi import answer, operation
from adapters.http.responses import json_response
from projections.lookup import NumberLookup
from projections.views import TrackingView
from tracking.errors import ShipmentNotFound
from tracking.identifiers import TrackingNumber


class TrackController(Controller):
    path = "/track"

    @get("/{tracking_number:str}", summary="Track a parcel (public)", tags=["reading"],
         **operation(errors=(400, 404, 422, 503),
                     description="No token needed; no personal data. A later carrier's number "
                                 "finds a shipment handed over to it.",
                     answers={200: answer(TrackingView, "The customer's view",
                                          examples.TRACKING)}))
    async def track(
        self, tracking_number: schemas.TrackingNumberText, lookup: NamedDependency[NumberLookup]
    ) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        view = await lookup.public_view_async(tn)
        if view is None:
            raise ShipmentNotFound(tn)
        return json_response(view)
