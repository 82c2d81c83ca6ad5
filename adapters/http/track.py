"""GET /api/v1/track/{tracking_number}: the customer's view of a parcel,
public (no token, no personal data). It reads views only: the shipment's
own, or, for a later carrier's number, the one the links view names; a
number neither knows is a 404 without replaying anything.

The view is ready-encoded bytes, so its ETag is a digest of them (strong:
equal tags, equal bytes), and a refresh with ``If-None-Match`` costs a 304.

It is the busiest route, so ``TrackView`` answers its plain form (``GET``,
no query, no ``Origin``, a view found) in front of Litestar (adapters.http.plain):
routing, dependency injection, the ``before_request`` hook, the middleware
and a ``Response`` object per request cost most of its time (bench/reads.py).
Anything else (a query such as ``min_position``, CORS, an unknown or
malformed number, a client over its limit) goes on to the controller, which
answers the same way with the same tags."""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Controller, MediaType, Request, Response, get
from litestar.di import NamedDependency

from adapters.http import examples, schemas
from adapters.http.openapi import answer, operation
from adapters.http.plain import Answer, matches
from projections.lookup import NumberLookup
from projections.views import TrackingView
from tracking.errors import ShipmentNotFound
from tracking.identifiers import TrackingNumber

PREFIX = "/api/v1/track/"
ROUTE = PREFIX + "{tracking_number}"  # the template Litestar gives, for logs and metrics
# Revalidate every time (a scan may come any minute), but never send unchanged bytes again.
CACHE_CONTROL = "no-cache"


def etag(view: bytes) -> str:
    return '"%s"' % hashlib.blake2b(view, digest_size=12).hexdigest()


class TrackController(Controller):
    path = "/track"

    @get("/{tracking_number:str}", summary="Track a parcel (public)", tags=["reading"],
         **operation(errors=(400, 404, 422, 503),
                     description="No token needed; no personal data. A later carrier's number "
                                 "finds a shipment handed over to it. Answers carry an `ETag`; "
                                 "`If-None-Match` with it answers 304 while the view is the same.",
                     answers={200: answer(TrackingView, "The customer's view",
                                          examples.TRACKING)}))
    async def track(
        self, tracking_number: schemas.TrackingNumberText, lookup: NamedDependency[NumberLookup],
        request: Request[Any, Any, Any],
    ) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        view = await lookup.public_view_async(tn)
        if view is None:
            raise ShipmentNotFound(tn)
        tag = etag(view)
        headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
        if matches(tag, request.headers.get("if-none-match")):
            return Response(b"", status_code=304, headers=headers)
        return Response(view, media_type=MediaType.JSON, headers=headers)


class TrackView:
    """The plain GET /api/v1/track/{n}, for adapters.http.plain: the view's
    bytes as they are."""

    prefix, template = PREFIX, ROUTE

    def __init__(self, lookup: NumberLookup) -> None:
        self.lookup = lookup

    async def answer(self, number: TrackingNumber, accept_language: str | None) -> Answer | None:
        view = await self.lookup.public_view_async(number)
        if view is None:
            return None
        return Answer(etag(view), lambda: view, _CACHING, _JSON)


_CACHING = [(b"cache-control", CACHE_CONTROL.encode())]
_JSON = [(b"content-type", b"application/json")]
