"""The Litestar application: every endpoint of the contract.

Commands load aggregates through the shipment service; queries read the
projected views (only ``history`` and ``as_of``, which are about the events
themselves, replay). Blocking calls run in worker threads, never on the
event loop. Every write that records something answers with ``position``,
and every GET under /api/v1 takes ``min_position`` (read your writes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import anyio
import msgspec
from litestar import Litestar, MediaType, Request, Response, Router, get, post
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.params import Body, FromQuery, JSONBody, QueryParameter

from adapters import health
from adapters.deadletters import DeadLetterStore
from adapters.groupcommit import GroupCommit
from adapters.http import customs, docs, examples, openapi, pages, schemas, webhooks
from adapters.http.openapi import answer, operation
from adapters.live import live_views
from adapters.http.access import RequestLog
from adapters.http.auth import requires
from adapters.http.carriers import carrier_router
from adapters.http.constraints import ValueTypes, WireStructs, optional_query
from adapters.http.cors import PublicCORS
from adapters.http.deadletters import dead_letter_routes
from adapters.http.errors import HANDLERS, error
from adapters.http.metrics import Metrics
from adapters.http.ratelimit import RateLimit
from adapters.http.responses import json_response
from adapters.mqtt.broker import EmbeddedBroker
from adapters.mqtt.consumer import ScanConsumer
from adapters.settings import Settings
from projections.customs import READ_MODEL as CUSTOMS
from projections.links import READ_MODEL as LINKS, LinksView
from projections.readmodel import Views
from projections.runner import ReadModelRunner
from projections.shipments import READ_MODEL as SHIPMENTS
from projections.views import OpenException, ShipmentView, TrackingView, shipment_view
from tracking.application import ScanOutcome, ScanResult, ShipmentService
from tracking.codes import SourceKind
from tracking.errors import InvalidInput, ShipmentNotFound
from tracking.exceptions import ExceptionKind, open_exceptions
from tracking.identifiers import Locode, TrackingNumber, shipment_id
from tracking.mapper import enc_hook
from tracking.scan import Scan, Source
from tracking.shipment import Shipment

log = logging.getLogger(__name__)
READ_YOUR_WRITES_WAIT = 5.0
ExceptionKindQuery = optional_query(options=ExceptionKind)
MAX_BODY = 1_000_000


@dataclass
class Api:
    """What the handlers work with; built by the composition root."""

    settings: Settings
    service: ShipmentService
    store: Views
    runner: ReadModelRunner | None = None
    dead_letters: DeadLetterStore | None = None
    # Started with the app when set: scan ingestion, and the broker it consumes.
    consumer: ScanConsumer | None = None
    broker: EmbeddedBroker | None = None
    metrics: Metrics = field(default_factory=Metrics)
    readiness: health.Readiness = field(init=False)

    def __post_init__(self) -> None:
        self.readiness = health.Readiness(self.service, self.store, self.runner, self.consumer,
                                          self.settings.ready_max_lag_seconds)

    def start(self) -> None:
        """Bring the views up to date, then keep them so in the background."""
        if self.runner is not None:
            self.runner.catch_up()
            self.runner.start()
        if self.broker is not None:
            try:
                self.broker.start()
            except OSError as e:
                log.warning("%s; scans come in over HTTP only. Set TRACKING_MQTT_URL to consume "
                            "from a running broker, or TRACKING_MQTT_EMBEDDED_PORT.", e)
                self.broker = self.consumer = self.readiness.consumer = None
        if self.consumer is not None:
            self.consumer.start()

    def stop(self) -> None:
        if self.consumer is not None:
            self.consumer.stop()  # finishes and acknowledges the batch in hand
        if self.broker is not None:
            self.broker.stop()
        if self.runner is not None:
            self.runner.stop()
        self.store.close()
        if self.dead_letters is not None:
            self.dead_letters.close()
        self.readiness.close()
        self.service.close()


def _live_view(shipment: Shipment, position: int | None = None) -> dict[str, Any]:
    """The agent's view built straight from a shipment (write answers and
    ``as_of``). Exceptions carry the time of the shipment's last event."""
    delivery = shipment.delivery()
    exceptions = [
        OpenException(kind=kind, raised_at=shipment.modified_on, details=details)
        for kind, details in open_exceptions(shipment, delivery).items()
    ]
    view: dict[str, Any] = msgspec.to_builtins(
        shipment_view(shipment, delivery, exceptions), enc_hook=enc_hook
    )
    if position is not None:
        view["position"] = position
    return view


def _scan_out(outcome: ScanOutcome) -> schemas.ScanResultOut:
    return schemas.scan_result_out(outcome)


def _handed_over(
    aliases: LinksView, read: Callable[[UUID], bytes | None], tn: str
) -> bytes | None:
    """The view of the shipment handed over to a later carrier under ``tn``."""
    linked = aliases.shipment_of(tn)
    return read(shipment_id(linked)) if linked is not None else None


def create_app(api: Api) -> Litestar:
    service, store, metrics, tokens = api.service, api.store, api.metrics, api.settings.api_tokens
    shipments, aliases = store[SHIPMENTS], store[LINKS]
    booking_roles = requires(tokens, "merchant", "agent")
    agent_only = requires(tokens, "agent")
    scanners = requires(tokens, "device", "carrier")
    customs_writers = requires(tokens, "merchant", "agent", "carrier")
    # Concurrent scan POSTs share transactions (adapters/groupcommit.py).
    scan_writer = GroupCommit(
        service.record_scans,
        written=lambda posts, _: metrics.observe("tracking_http_posts_per_transaction", posts),
    )

    # -- booking and routing -------------------------------------------------------

    @post("/shipments", sync_to_thread=True, status_code=201, summary="Book a shipment",
          tags=["booking"], **operation(
              booking_roles, errors=(400, 409, 422, 503),
              description="A route may be empty or absent (routing_status NOT_ROUTED). The same "
                          "booking again answers 200; a different one for a booked number 409.",
              answers={201: answer(schemas.ShipmentWritten, "Booked: the agent's view"),
                       200: answer(schemas.ShipmentWritten, "Already booked so: nothing changed")}))
    def book(
        data: Annotated[schemas.BookingIn, Body(examples=[examples.BOOKING])],
        request: Request[Any, Any, Any],
    ) -> Response[bytes]:
        tn, booking, route = schemas.to_booking(data, request.state.account)
        source = Source(SourceKind.AGENT, request.state.principal)
        result = service.book(tn, booking, route, source)
        view = _live_view(service.get(tn), result.position)
        return json_response(view, 201 if result.changed else 200)

    @post("/shipments/{tracking_number:str}/route", sync_to_thread=True, status_code=200,
          summary="Re-route a shipment", tags=["booking"], **operation(
              booking_roles, errors=(400, 404, 409, 422, 503),
              description="A new route (and destination): a route whose last leg does not end "
                          "at the destination makes routing_status MISROUTED.",
              answers={200: answer(schemas.ShipmentWritten, "Re-routed: the agent's view")}))
    def reroute(
        tracking_number: schemas.TrackingNumberText, data: JSONBody[schemas.RouteIn],
        request: Request[Any, Any, Any],
    ) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        route = schemas.to_route(data.route)
        destination = (
            Locode(data.destination, "destination") if data.destination else None
        )
        source = Source(SourceKind.AGENT, request.state.principal)
        result = service.reroute(tn, route, source, destination)
        return json_response(_live_view(service.get(tn), result.position))

    # -- scans -------------------------------------------------------------------

    @post("/scans", status_code=201, summary="Record one scan or a batch", tags=["scans"],
          dto=openapi.raw_body(schemas.ScanIn, schemas.ScanBatchIn,
                               examples=[examples.SCAN, {"scans": [examples.SCAN]}]),
          **operation(
              scanners, errors=(400, 422, 503),
              description='One scan, or {"scans": [...]} for a batch. scan_id is the '
                          "idempotency key: the same scan again is recorded once. A scan for "
                          "a number not booked yet is kept and applied at booking. A device "
                          "must send its device_id. One scan that cannot be valid is a 422 "
                          "naming the field; in a batch it is rejected alone.",
              answers={201: answer(schemas.ScanResultOut, "The scan is recorded"),
                       200: answer(schemas.ScanResultOut | schemas.ScanBatchOut,
                                   "The scan was already recorded (duplicate), or a batch's "
                                   "outcomes, each scan's own")}))
    async def scans(request: Request[Any, Any, Any], data: JSONBody[bytes] = b"") -> Response[bytes]:
        wire, is_batch = schemas.decode_scans(data)
        role = request.state.role
        parsed: list[Scan | InvalidInput] = []
        for i, item in enumerate(wire):
            try:
                scan = schemas.to_scan(item)
                if role == "device" and scan.device_id is None:
                    raise InvalidInput("device_id", "a device must say which device it is")
                parsed.append(scan)
            except InvalidInput as e:
                if not is_batch:
                    raise
                parsed.append(e.within(f"scans[{i}]"))
        valid = [p for p in parsed if isinstance(p, Scan)]
        source = Source(SourceKind.CARRIER, request.state.principal) if role == "carrier" else None
        outcomes = iter(await anyio.to_thread.run_sync(scan_writer.record, valid, source))
        results = [
            _scan_out(next(outcomes)) if isinstance(p, Scan)
            else schemas.ScanResultOut(
                scan_id=wire[i].scan_id, tracking_number=wire[i].tracking_number,
                result=ScanResult.REJECTED.value, duplicate=False, booked=False,
                field=p.field, detail=p.reason,
            )
            for i, p in enumerate(parsed)
        ]
        metrics.inc("tracking_scans_received_total", len(results), ingress="http")
        for r in results:
            metrics.inc("tracking_scans_total", result=r.result, ingress="http")
        if not is_batch:
            [only] = results
            if only.result == ScanResult.REJECTED.value:
                return error(422, f"{only.field}: {only.detail}", only.field)
            return json_response(only, 201 if only.result == ScanResult.RECORDED.value else 200)
        return json_response(schemas.batch_out(results))

    # -- reading -----------------------------------------------------------------

    @get("/track/{tracking_number:str}", summary="Track a parcel (public)", tags=["reading"],
         **operation(errors=(400, 404, 422, 503),
                     description="No token needed; no personal data. A later carrier's number "
                                 "finds a shipment handed over to it.",
                     answers={200: answer(TrackingView, "The customer's view",
                                          examples.TRACKING)}))
    async def track(tracking_number: schemas.TrackingNumberText) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        view = await shipments.public_view_async(shipment_id(tn))
        if view is None:  # perhaps a later carrier's number, for a shipment handed over
            view = await anyio.to_thread.run_sync(_handed_over, aliases, shipments.public_view, tn)
        if view is None:
            raise ShipmentNotFound(tn)
        return json_response(view)

    @get("/shipments/{tracking_number:str}", sync_to_thread=True,
         summary="The agent's full view, now or as_of a time", tags=["reading"], **operation(
             agent_only, errors=(400, 404, 422, 503),
             description="as_of is a recording time (RFC 3339 with an offset): the view as it "
                         "was then, from what had been recorded by then.",
             answers={200: answer(ShipmentView, "The agent's view, recipient included")}))
    def shipment(
        tracking_number: schemas.TrackingNumberText, as_of: FromQuery[datetime | None] = None
    ) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        if as_of is not None:
            if as_of.tzinfo is None:
                raise InvalidInput("as_of", "needs a UTC offset (RFC 3339)")
            return json_response(_live_view(service.get_as_of(tn, as_of)))
        view = shipments.full_view(shipment_id(tn)) or _handed_over(aliases, shipments.full_view, tn)
        if view is None:
            raise ShipmentNotFound(tn)
        return json_response(view)

    @get("/shipments/{tracking_number:str}/history", sync_to_thread=True,
         summary="Every recorded event, in recorded order", tags=["reading"], **operation(
             agent_only, errors=(400, 404, 422, 503),
             answers={200: answer(list[schemas.HistoryEntry], "The shipment's events")}))
    def history(tracking_number: schemas.TrackingNumberText) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        return json_response([schemas.history_entry(e) for e in service.history(tn)])

    @get("/exceptions", sync_to_thread=True, summary="Shipment exceptions, oldest first",
         tags=["reading"], **operation(
             agent_only, errors=(400, 422, 503),
             answers={200: answer(list[schemas.ExceptionOut], "The exceptions, oldest first")}))
    def exceptions(
        state_: Annotated[str, QueryParameter(
            name="state", description="open, closed or all",
            schema_extra={"enum": ["open", "closed", "all"]})] = "open",
        kind: ExceptionKindQuery = None,
        limit: schemas.Limit = 100,
        offset: schemas.Offset = 0,
    ) -> Response[bytes]:
        state = state_
        if state not in ("open", "closed", "all"):
            raise InvalidInput("state", f"{state!r} is not one of open, closed, all")
        rows = shipments.exceptions(
            state=None if state == "all" else state, kind=kind, limit=limit, offset=offset
        )
        return json_response([
            schemas.ExceptionOut(
                tracking_number=r.tracking_number, kind=r.kind.value,
                state="open" if r.cleared_at is None else "closed",
                raised_at=r.raised_at, cleared_at=r.cleared_at, details=r.details,
            )
            for r in rows
        ])

    async def read_your_writes(request: Request[Any, Any, Any]) -> Response[bytes] | None:
        """GETs under /api/v1 wait (bounded) until the views have processed
        min_position."""
        raw = request.query_params.get("min_position")
        if request.method != "GET" or raw is None or not request.url.path.startswith("/api/v1/"):
            return None
        try:
            wanted = int(raw)
        except ValueError:
            return error(400, f"min_position: {raw!r} is not a whole number", "min_position")
        deadline = time.monotonic() + READ_YOUR_WRITES_WAIT
        while True:
            reached = await anyio.to_thread.run_sync(store.position)
            if reached >= wanted:
                return None
            if time.monotonic() >= deadline:
                return error(
                    503,
                    f"the views have processed position {reached}, not yet {wanted}; "
                    "try again shortly",
                    "min_position",
                    **{"Retry-After": "1"},
                )
            await anyio.sleep(0.01)

    v1 = Router(
        path="/api/v1",
        route_handlers=[book, reroute, scans, track, shipment, history, exceptions,
                        *dead_letter_routes(api.dead_letters, service, agents=agent_only),
                        *customs.routes(service, store[CUSTOMS], writers=customs_writers,
                                        readers=customs_writers, agents=agent_only),
                        webhooks.controller(api)],
    )

    # -- operations --------------------------------------------------------------

    @get("/livez", summary="The process answers", tags=["operations"],
         responses={200: answer(dict[str, str], "Alive", {"status": "ok"})})
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", sync_to_thread=True, summary="Stores and broker answer, views keep up",
         tags=["operations"], responses={
             200: answer(schemas.ReadinessOut, "Ready"),
             503: answer(schemas.ReadinessOut, "Not ready: failed names what does not answer")})
    def readyz() -> Response[bytes]:
        ready, body = api.readiness.check()
        return json_response(body, 200 if ready else 503)

    @get("/metrics", sync_to_thread=True, summary="Prometheus metrics", tags=["operations"],
         media_type=MediaType.TEXT)
    def metrics_endpoint() -> str:
        return metrics.render()

    metrics.counter("tracking_scans_total", "Scans received, by result and ingress")
    metrics.counter("tracking_scans_received_total", "Scan messages received, by ingress")
    metrics.histogram("tracking_http_posts_per_transaction", "Scan POSTs recorded per "
                      "transaction (concurrent POSTs share one)", (1, 2, 5, 10, 20, 50, 100))
    health.register(metrics, service, store=store, consumer=api.consumer,
                    dead_letters=api.dead_letters)

    live = live_views(api.settings, store)  # the tracking page's stream (adapters/live.py)
    app = Litestar(
        route_handlers=[v1, carrier_router(api.settings, service, metrics), livez, readyz,
                        metrics_endpoint, docs.swagger_assets(), pages.routes(service, store, live)],
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
        plugins=[WireStructs(), ValueTypes()],
        before_request=read_your_writes,
        logging_config=None,  # adapters/logs.py configures logging, once per process
        request_max_body_size=MAX_BODY,
        on_startup=[api.start],
        on_shutdown=[live.stop, store.aclose, api.stop],
        middleware=[
            # first, so a shop's page can read even a 429
            DefineMiddleware(PublicCORS, origins=api.settings.cors_origins),
            DefineMiddleware(RateLimit, per_minute=api.settings.rate_limit_per_minute,
                             exclude=["/livez", "/readyz", "/metrics", "/schema"]),
        ],
        openapi_config=OpenAPIConfig(
            title="Shipment tracking",
            version="1",
            description="Documented in docs/API.md. Every GET under /api/v1 takes "
            "min_position=N (read your writes: waits up to 5 s for the views).",
            render_plugins=[docs.swagger_ui()],
            components=openapi.COMPONENTS,
            path="/schema",
        ),
        debug=False,
    )
    app.asgi_handler = RequestLog(app.asgi_handler, metrics)  # every request, unmatched ones too
    return app
