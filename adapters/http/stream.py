"""GET /api/v1/track/{tracking_number}/stream: the tracking view as
Server-Sent Events. Each message is ``event: tracking``, ``id: <log
position>``, ``data: <the view>``; the first is the current view (unless
the client's Last-Event-ID says it has it), then one per change, and a
comment line every ``heartbeat`` seconds so proxies keep the stream open.
Positions only grow, so a reconnecting client gets nothing twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import anyio
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.response import Stream

from adapters.http import schemas
from adapters.http.openapi import operation
from adapters.http.security import page_headers
from adapters.live import LiveViews
from projections.links import LinksView
from projections.shipments import ShipmentsView
from tracking.errors import InvalidInput, ShipmentNotFound
from tracking.identifiers import TrackingNumber, shipment_id

HEARTBEAT = 10.0  # seconds; the contract asks for at most 15
EVENTS = ResponseSpec(
    str, media_type="text/event-stream", generate_examples=False,
    description="Server-Sent Events, never ending: `event: tracking`, `id:` the log position, "
                "`data:` the tracking view (as GET /api/v1/track answers it, on one line); "
                "a comment line every 10 s",
    examples=[Example(summary="The first message", value=(
        'id: 7\nevent: tracking\ndata: {"tracking_number":"LX123456785CN",'
        '"status":"IN_TRANSIT",...}\n\n'))])


def resolve(
    shipments: ShipmentsView, links: LinksView, tn: TrackingNumber
) -> tuple[UUID, int, bytes]:
    """The shipment a number tracks (its own, or the one handed over under
    it), with its current public view and the view's log position."""
    sid = shipment_id(tn)
    found = shipments.public_views_since(-1, [sid])
    if not found:
        linked = links.shipment_of(str(tn))
        if linked is not None:
            sid = shipment_id(linked)
            found = shipments.public_views_since(-1, [sid])
    if not found:
        raise ShipmentNotFound(tn)
    return found[0]


def _last_event_id(request: Request[Any, Any, Any]) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or raw == "":
        return -1  # none: even a view at position 0 (just rebuilt) is news
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput("Last-Event-ID", f"{raw!r} is not a log position") from None
    if value < 0:
        raise InvalidInput("Last-Event-ID", "must not be negative")
    return value


def message(position: int, view: bytes) -> bytes:
    # The view is compact JSON: one line, so one data field.
    return b"id: %d\nevent: tracking\ndata: %s\n\n" % (position, view)


def stream_route(shipments: ShipmentsView, links: LinksView, live: LiveViews) -> Any:
    @get("/api/v1/track/{tracking_number:str}/stream", summary="Follow a parcel live (public)",
         tags=["reading"], media_type="text/event-stream", **operation(
             errors=(400, 404, 422), answers={200: EVENTS},
             description="No token needed. The current view, then one message per change; "
                         "resumes after the Last-Event-ID header (or last_event_id in the "
                         "query), a log position."))
    async def track_stream(
        tracking_number: schemas.TrackingNumberText, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        tn = TrackingNumber(tracking_number)
        seen = _last_event_id(request)
        sid, _, _ = await anyio.to_thread.run_sync(resolve, shipments, links, tn)

        async def events() -> AsyncIterator[bytes]:
            sent = seen
            watch = live.watch(sid)
            try:
                # Read again now that the watch is on: nothing falls between.
                current = await anyio.to_thread.run_sync(shipments.public_views_since, sent, [sid])
                for _, at, doc in current:
                    yield message(at, doc)
                    sent = at
                while True:
                    got = await watch.next(HEARTBEAT)
                    if got is None:
                        yield b": keep-alive\n\n"
                    elif got[0] > sent:
                        sent = got[0]
                        yield message(*got)
            finally:
                live.unwatch(watch)

        return Stream(events(), media_type="text/event-stream",
                      headers={**page_headers(), "Cache-Control": "no-store",
                               "X-Accel-Buffering": "no"})

    return track_stream
