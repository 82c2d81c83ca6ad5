"""Carrier endpoints: pushed payloads in each source's own format, verified,
translated at the edge (adapters/carriers) and recorded through the same
service call as scans. A payload that cannot be right is refused whole (422
naming the field) and a bad signature is refused (401); nothing is recorded
then. The answer lists each event's outcome, like a batch of scans."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import anyio
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import HeaderParameter

from adapters.carriers import aggregator, dcsa, epcis
from adapters.carriers.masterdata import MasterData
from adapters.carriers.signature import SignatureRefused, check_fresh, verify_base64, verify_hex
from adapters.carriers.translation import Refused, Translated, carrier, record, register
from adapters.http import schemas
from adapters.http.auth import CARRIERS
from adapters.http.metrics import Metrics
from adapters.http.openapi import answer, operation
from adapters.http.responses import json_response
from adapters.settings import CarrierSettings, Settings
from tracking.application import ShipmentService
from tracking.errors import InvalidInput
from tracking.scan import Source


_SIGNED = ("Signed with an HMAC-SHA256 of the raw body; a bad or missing signature is 401 "
           "and nothing is recorded. ")
_BATCH = ("Answers 200 with each event's outcome (recorded, duplicate, rejected), like a batch "
          "of scans; a payload that cannot be right is 422 naming the field, nothing recorded.")


_OUTCOMES = {200: answer(schemas.ScanBatchOut, "Each event's outcome")}


def _documented_body(kind: OpenAPIType, description: str) -> type[Operation]:
    """An OpenAPI operation that documents a body the handler reads raw (it
    must verify the signature on the exact bytes before parsing them)."""

    @dataclass
    class WithBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={"application/json": OpenAPIMediaType(schema=Schema(type=kind))},
                description=description, required=True)

    return WithBody


@dataclass(frozen=True)
class CarrierIntake:
    """What the carrier endpoints check payloads with (the secrets, the
    master data mapping ids and places, how old a signed payload may be) and
    record them through."""

    conf: CarrierSettings
    master: MasterData
    tolerance: timedelta
    service: ShipmentService
    metrics: Metrics

    @classmethod
    def load(cls, settings: Settings, service: ShipmentService, metrics: Metrics) -> CarrierIntake:
        register(metrics)
        conf = settings.carriers
        return cls(conf, MasterData.load(conf.master_data),
                   timedelta(seconds=conf.signature_tolerance_seconds), service, metrics)

    async def recorded(
        self, batch: Sequence[Translated | Refused], fmt: str, source: Source
    ) -> Response[bytes]:
        outcomes = await anyio.to_thread.run_sync(lambda: record(
            self.service, batch, source_format=fmt, source=source, metrics=self.metrics))
        return json_response(schemas.batch_out([schemas.scan_result_out(o) for o in outcomes]))


class CarrierController(Controller):
    path = "/"

    @post("/carriers/dcsa/notifications", status_code=200, tags=["carriers"],
          **operation(errors=(400, 401, 422, 503), answers=_OUTCOMES),
          operation_class=_documented_body(OpenAPIType.ARRAY, "DCSA T&T v2 events "
                                           "(transportEvent, equipmentEvent, shipmentEvent)"),
          summary="DCSA Track & Trace v2 subscription callback",
          description="A JSON array of DCSA transport and equipment events. " + _SIGNED
          + "Header Notification-Signature: sha256=<hex> (TRACKING_DCSA_SECRET). ACT events "
          "are scans, PLN/EST events estimates (ETA). " + _BATCH)
    async def dcsa_notification(
        self,
        request: Request[Any, Any, Any],
        intake: NamedDependency[CarrierIntake],
        signature: Annotated[str | None, HeaderParameter(name="Notification-Signature")] = None,
    ) -> Response[bytes]:
        body = await request.body()
        _verified(lambda: verify_hex(intake.conf.dcsa_secret, body, signature, prefix="sha256="))
        return await intake.recorded(dcsa.parse(body), dcsa.FORMAT, carrier("dcsa"))

    @post("/epcis/capture", status_code=200, tags=["carriers"],
          operation_class=_documented_body(OpenAPIType.OBJECT, "A GS1 EPCIS 2.0 JSON-LD "
                                           "EPCISDocument"),
          summary="GS1 EPCIS 2.0 capture (role carrier)",
          **operation(CARRIERS, errors=(400, 422, 503), answers=_OUTCOMES,
                      description="A JSON-LD EPCISDocument. Object ids and locations are "
                      "mapped through the master data (TRACKING_CARRIER_MASTER_DATA); an "
                      "errorDeclaration retracts the event it declares. " + _BATCH))
    async def epcis_capture(
        self,
        request: Request[Any, Any, Any],
        intake: NamedDependency[CarrierIntake],
        behaviour: Annotated[str, HeaderParameter(
            name="GS1-Capture-Error-Behaviour", required=False,
            schema_extra={"enum": ["rollback", "proceed"]},
            description="rollback (default): one bad event refuses the document; proceed: "
                        "it is refused alone")] = "rollback",
    ) -> Response[bytes]:
        if behaviour not in ("rollback", "proceed"):
            raise InvalidInput("GS1-Capture-Error-Behaviour",
                               f"{behaviour!r} is not rollback or proceed")
        translated = epcis.parse(await request.body(), intake.master,
                                 proceed=behaviour == "proceed")
        return await intake.recorded(translated, epcis.FORMAT, carrier(request.state.principal))

    @post("/carriers/aggregator/webhooks", status_code=200, tags=["carriers"],
          **operation(errors=(400, 401, 422, 503), answers=_OUTCOMES),
          operation_class=_documented_body(OpenAPIType.OBJECT, "An AfterShip tracking webhook: "
                                           "{event, event_id, ts, msg: {tracking_number, "
                                           "checkpoints: [{checkpoint_time, tag, subtag, ...}]}}"),
          summary="Aggregator webhook (AfterShip tag/subtag checkpoints)",
          description=_SIGNED + "Header aftership-hmac-sha256: <base64> "
          "(TRACKING_AGGREGATOR_SECRET); its ts must be within "
          "TRACKING_SIGNATURE_TOLERANCE_SECONDS of now. " + _BATCH)
    async def aggregator_webhook(
        self,
        request: Request[Any, Any, Any],
        intake: NamedDependency[CarrierIntake],
        signature: Annotated[str | None, HeaderParameter(name="aftership-hmac-sha256")] = None,
    ) -> Response[bytes]:
        body = await request.body()
        _verified(lambda: verify_base64(intake.conf.aggregator_secret, body, signature))
        sent_at, translated = aggregator.parse(body, intake.master)
        _verified(lambda: check_fresh(sent_at, intake.service.clock(), intake.tolerance))
        return await intake.recorded(translated, aggregator.FORMAT, carrier("aggregator"))


def _verified(check: Callable[[], None]) -> None:
    try:
        check()
    except SignatureRefused as e:
        raise NotAuthorizedException(str(e)) from None
