"""GET /api/v1/track/{tracking_number}: the customer's view of a parcel,
public (no token, no personal data). It reads views only: the shipment's
own, or, for a later carrier's number, the one the links view names; a
number neither knows is a 404 without replaying anything.

The view is ready-encoded bytes, so its ETag is a digest of them (strong:
equal tags, equal bytes), and a refresh with ``If-None-Match`` costs a 304.

It is the busiest route, so ``TrackFastPath`` answers its plain form
(``GET``, no query, no ``Origin``, a view found) in front of Litestar:
routing, dependency injection, the ``before_request`` hook, two middleware
and a ``Response`` object per request cost most of its time (bench/reads.py).
The rate limit is the same bucket the middleware takes from. Anything else
(a query such as ``min_position``, CORS, an unknown or malformed number, a
client over its limit) goes on to the controller, which answers the same
way with the same tags."""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Controller, MediaType, Request, Response, get
from litestar.di import NamedDependency
from litestar.types import ASGIApp, Receive, Scope, Send

from adapters.http import examples, schemas
from adapters.http.openapi import answer, operation
from adapters.http.ratelimit import Buckets, UnknownNumbers
from projections.lookup import NumberLookup
from projections.views import TrackingView
from tracking.errors import InvalidInput, ShipmentNotFound
from tracking.identifiers import TrackingNumber

PREFIX = "/api/v1/track/"
ROUTE = PREFIX + "{tracking_number}"  # the template Litestar gives, for logs and metrics
# Revalidate every time (a scan may come any minute), but never send unchanged bytes again.
CACHE_CONTROL = "no-cache"


def etag(view: bytes) -> str:
    return '"%s"' % hashlib.blake2b(view, digest_size=12).hexdigest()


def matches(tag: str, if_none_match: str | None) -> bool:
    """Whether ``If-None-Match`` names this tag (weak comparison, as RFC 9110
    asks of it: ``W/"x"`` matches ``"x"``), or is ``*``."""
    if not if_none_match:
        return False
    return any(t.strip().removeprefix("W/") in (tag, "*") for t in if_none_match.split(","))


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


class TrackFastPath:
    """An ASGI wrapper answering the plain GET /api/v1/track/{n} itself, and
    handing every other request to ``app`` (Litestar)."""

    def __init__(self, app: ASGIApp, lookup: NumberLookup, limits: Buckets | None,
                 unknown: UnknownNumbers | None = None) -> None:
        self.app, self.lookup, self.limits, self.unknown = app, lookup, limits, unknown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]
                or not scope["path"].startswith(PREFIX)):
            await self.app(scope, receive, send)
            return
        raw = scope["path"][len(PREFIX):]
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"origin":
                raw = ""  # CORS: the middleware's
        client = scope.get("client")
        address = client[0] if client else "unknown"
        try:
            # Over a limit: the middleware refuses it (a token is taken only once
            # answered). Past its allowance of unknown numbers an address gets 429
            # for known ones too (WrongGuesses), so that nothing tells them apart.
            if "/" in raw or (self.limits is not None and self.limits.wait(address, take=False)) \
                    or (self.unknown is not None and self.unknown.wait(address)):
                raise LookupError
            tn = TrackingNumber(raw)
        except (InvalidInput, LookupError):
            await self.app(scope, receive, send)
            return
        try:
            view = await self.lookup.public_view_async(tn)
        except Exception:  # noqa: BLE001 - the controller asks again, and answers (and logs) as ever
            view = None
        if view is None:
            await self.app(scope, receive, send)  # the controller's 404 (or error)
            return
        if self.limits is not None:
            self.limits.wait(address)
        scope["path_template"] = ROUTE  # as Litestar sets them: the access log's
        scope["path_params"] = {"tracking_number": raw}
        tag = etag(view)
        headers = [(b"etag", tag.encode()), (b"cache-control", CACHE_CONTROL.encode())]
        if matches(tag, if_none_match):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(view)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": view})
