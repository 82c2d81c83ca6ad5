"""The Litestar application, assembled: the controllers (one per resource,
each in its own module), what they are given by name (``dependencies``),
middleware, exception handlers, the OpenAPI document and the pages.

Commands load aggregates through the shipment service; queries read the
projected views (only ``history`` and ``as_of``, which are about the events
themselves, replay). Blocking calls run in worker threads, never on the
event loop. Every write that records something answers with ``position``,
and every GET under /api/v1 takes ``min_position`` (read your writes).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from litestar import Litestar, Request, Response, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig

from adapters import health
from adapters.access_records import AccessRecords, MemoryAccessRecords
from adapters.deadletters import DeadLetterStore
from adapters.http import console, docs, merchant, openapi, pages
from adapters.http.signouts import SignOuts
from adapters.http.access import RequestLog
from adapters.http.auth import TOKENS
from adapters.http.carriers import CarrierController, CarrierIntake
from adapters.http.constraints import ValueTypes, WireStructs
from adapters.http.cors import PublicCORS
from adapters.http.customs import CustomsController
from adapters.http.deadletters import DeadLetterController
from adapters.http.eta import EtaController
from adapters.http.explain import ExplainController
from adapters.http.errors import HANDLERS, error
from adapters.http.exceptions import ExceptionController
from adapters.http.metrics import Metrics
from adapters.http.operations import OperationsController
from adapters.http.ownership import OWNERS, Owners
from adapters.http.paging import PAGING
from adapters.http.personal_data import PersonalDataController
from adapters.http.purchase_orders import PurchaseOrderController, stock_reader
from adapters.http.ratelimit import Buckets, RateLimit, UnknownNumbers, WrongGuesses
from adapters.http.scans import ScanController, scan_intake
from adapters.http.shipments import ShipmentController
from adapters.http.plain import PlainGets
from adapters.http.track import TrackController, TrackView
from adapters.http.warehouses import WarehouseController
from adapters.http.webhooks import WebhookController, WebhookDesk
from adapters.live import live_views
from adapters.mqtt.broker import EmbeddedBroker
from adapters.mqtt.consumer import ScanConsumer
from adapters.settings import Settings
from projections.customs import READ_MODEL as CUSTOMS
from projections.etahistory import READ_MODEL as ETA_HISTORY
from projections.links import READ_MODEL as LINKS
from projections.lookup import NumberLookup
from projections.readmodel import Views
from projections.runner import ReadModelRunner
from projections.shipments import READ_MODEL as SHIPMENTS
from projections.warehouses import READ_MODEL as WAREHOUSES
from tracking.application import ShipmentService

log = logging.getLogger(__name__)
READ_YOUR_WRITES_WAIT = 5.0
MAX_BODY = 1_000_000


@dataclass
class Api:
    """What the handlers work with; built by the composition root."""

    settings: Settings
    service: ShipmentService
    store: Views  # what the API reads: on the read replica when there is one
    runner: ReadModelRunner | None = None
    # the views on the primary, where the runner and the webhooks' deliveries write
    primary: Views | None = None
    dead_letters: DeadLetterStore | None = None
    sign_outs: SignOuts | None = None  # the console's, shared by every worker
    # Started with the app when set: scan ingestion, and the broker it consumes.
    consumer: ScanConsumer | None = None
    broker: EmbeddedBroker | None = None
    metrics: Metrics = field(default_factory=Metrics)
    # every read of personal data (adapters/access_records.py)
    access_records: AccessRecords = field(default_factory=MemoryAccessRecords)
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
        if self.primary is not None and self.primary is not self.store:
            self.primary.close()
        if self.dead_letters is not None:
            self.dead_letters.close()
        self.access_records.close()
        if self.sign_outs is not None:
            self.sign_outs.close()
        self.readiness.close()
        self.service.close()


def given(value: Any) -> Provide:
    """A dependency that is always this one value (built by the composition root)."""
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def dependencies(api: Api) -> dict[str, Provide]:
    """What handlers are given, each by the name of the parameter that takes it."""
    return {
        "service": given(api.service),
        "shipments": given(api.store[SHIPMENTS]),
        "lookup": given(NumberLookup(api.store[SHIPMENTS], api.store[LINKS])),
        "customs_entries": given(api.store[CUSTOMS]),
        "eta_history": given(api.store[ETA_HISTORY]),
        "letters": given(api.dead_letters),
        "access_records": given(api.access_records),
        "metrics": given(api.metrics),
        "readiness": Provide(lambda: api.readiness, sync_to_thread=False),
        "scans": given(scan_intake(api.service, api.metrics)),
        "intake": given(CarrierIntake.load(api.settings, api.service, api.metrics)),
        "page": PAGING,
        "stock": given(stock_reader(api.store, api.service)),
        "named_warehouses": given(api.store[WAREHOUSES]),
        "webhooks": given(WebhookDesk.load(api)),
    }


def read_your_writes(store: Views) -> Any:
    """The hook by which GETs under /api/v1 wait (bounded) until the views
    have processed min_position: the views read, so on a read replica until
    it has replayed the views' commit of that position."""

    async def wait(request: Request[Any, Any, Any]) -> Response[bytes] | None:
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

    return wait


def create_app(api: Api) -> Litestar:
    v1 = Router(path="/api/v1", route_handlers=[
        ShipmentController,
        ScanController,
        TrackController,
        ExceptionController,
        ExplainController,
        CustomsController,
        CarrierController,
        DeadLetterController,
        PurchaseOrderController,
        WarehouseController,
        EtaController,
        WebhookController,
        PersonalDataController,
    ])
    health.register(api.metrics, api.service, store=api.store, consumer=api.consumer,
                    dead_letters=api.dead_letters)
    live = live_views(api.settings, api.store)  # the tracking page's stream (adapters/live.py)
    unknown = UnknownNumbers()  # unknown numbers looked up, per address: API and pages alike
    web = pages.Web(api.service, api.store, live, unknown)
    per_minute = api.settings.rate_limit_per_minute
    limits = Buckets(per_minute, per_minute / 60.0)  # one per address, whichever way in
    app = Litestar(
        route_handlers=[v1, OperationsController, docs.swagger_assets(),
                        pages.routes(web),
                        console.routes(api.service, api.store, api.settings.api_tokens,
                                       api.dead_letters, api.access_records, api.sign_outs,
                                       api.settings.devices),
                        merchant.routes(api.service, api.store, api.settings.api_tokens,
                                        api.sign_outs)],
        dependencies=dependencies(api),
        state=State({TOKENS: api.settings.api_tokens, OWNERS: Owners(
            api.service, NumberLookup(api.store[SHIPMENTS], api.store[LINKS]), api.store[CUSTOMS])}),
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
        plugins=[WireStructs(), ValueTypes()],
        before_request=read_your_writes(api.store),
        logging_config=None,  # adapters/logs.py configures logging, once per process
        request_max_body_size=MAX_BODY,
        on_startup=[api.start],
        on_shutdown=[live.stop, api.store.aclose, api.stop],
        middleware=[
            # first, so a shop's page can read even a 429
            DefineMiddleware(PublicCORS, origins=api.settings.cors_origins),
            DefineMiddleware(RateLimit, per_minute=per_minute, limits=limits,
                             exclude=["/livez", "/readyz", "/metrics", "/schema"]),
            DefineMiddleware(WrongGuesses, unknown=unknown),  # enumeration of /api/v1/track
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
    # The busiest routes' plain form answered before Litestar (adapters/http/plain.py).
    fast = PlainGets(app.asgi_handler, [
        TrackView(NumberLookup(api.store[SHIPMENTS], api.store[LINKS])), pages.PlainPage(web)],
        limits, unknown)
    app.asgi_handler = RequestLog(fast, api.metrics)  # every request, unmatched ones too
    return app
