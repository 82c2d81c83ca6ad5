"""POST /api/v1/scans: one scan or a batch, from a device or a carrier.

Each scan is parsed at the edge (a bad one is a 422 naming the field, or, in
a batch, rejected alone); the valid ones are recorded together, and each
scan's outcome is answered in the order it was sent. Concurrent POSTs share
transactions (adapters/groupcommit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from adapters import ingress
from adapters import wire as wire_formats
from adapters.groupcommit import GroupCommit
from adapters.http import examples, openapi, schemas
from adapters.http.auth import SCANNERS
from adapters.http.errors import error
from adapters.http.metrics import Metrics
from adapters.http.openapi import answer, operation
from adapters.http.responses import json_response
from tracking.application import ScanResult, ShipmentService
from tracking.codes import SourceKind
from tracking.errors import InvalidInput
from tracking.scan import Scan, Source


@dataclass(frozen=True)
class ScanIntake:
    """What the scan POSTs of a process share: one writer (one dependency,
    not two: Litestar resolves two in a task group, on every request)."""

    writer: GroupCommit
    metrics: Metrics


def scan_intake(service: ShipmentService, metrics: Metrics) -> ScanIntake:
    """The writer every scan POST of a process shares, and the metrics it
    and the handler keep."""
    metrics.counter("tracking_scans_total", "Scans received, by result and ingress")
    metrics.counter("tracking_scans_received_total", "Scan messages received, by ingress")
    metrics.histogram("tracking_http_posts_per_transaction", "Scan POSTs recorded per "
                      "transaction (concurrent POSTs share one)", (1, 2, 5, 10, 20, 50, 100))
    return ScanIntake(GroupCommit(
        service.record_scans,
        written=lambda posts, _: metrics.observe("tracking_http_posts_per_transaction", posts),
    ), metrics)


class ScanController(Controller):
    path = "/scans"

    @post("/", status_code=201, summary="Record one scan or a batch", tags=["scans"],
          dto=openapi.raw_body(schemas.ScanIn, schemas.ScanBatchIn,
                               examples=[examples.SCAN, {"scans": [examples.SCAN]}]),
          **operation(
              SCANNERS, errors=(400, 422, 503),
              description='One scan, or {"scans": [...]} for a batch. scan_id is the '
                          "idempotency key: the same scan again is recorded once. A scan for "
                          "a number not booked yet is kept and applied at booking. A device "
                          "must send its device_id. One scan that cannot be valid is a 422 "
                          "naming the field; in a batch it is rejected alone.",
              answers={201: answer(schemas.ScanResultOut, "The scan is recorded"),
                       200: answer(schemas.ScanResultOut | schemas.ScanBatchOut,
                                   "The scan was already recorded (duplicate), or a batch's "
                                   "outcomes, each scan's own")}))
    async def scans(
        self, request: Request[Any, Any, Any], scans: NamedDependency[ScanIntake],
        data: JSONBody[bytes] = b"",
    ) -> Response[bytes]:
        scan_writer, metrics = scans.writer, scans.metrics
        wire, is_batch = schemas.decode_scans(data)
        role = request.state.role
        parsed: list[Scan | ingress.Refused] = []
        for i, item in enumerate(wire):
            try:
                scan = wire_formats.to_scan(item)
                if role == "device" and scan.device_id is None:
                    raise InvalidInput("device_id", "a device must say which device it is")
                parsed.append(scan)
            except InvalidInput as e:
                if not is_batch:
                    raise
                parsed.append(ingress.Refused(item.scan_id, item.tracking_number,
                                              e.within(f"scans[{i}]")))
        source = Source(SourceKind.CARRIER, request.state.principal) if role == "carrier" else None
        outcomes = await anyio.to_thread.run_sync(
            ingress.record_valid, lambda valid: scan_writer.record(valid, source), parsed)
        results = [schemas.scan_result_out(o) for o in outcomes]
        metrics.inc("tracking_scans_received_total", len(results), ingress="http")
        for r in results:
            metrics.inc("tracking_scans_total", result=r.result, ingress="http")
        if not is_batch:
            [only] = results
            if only.result == ScanResult.REJECTED.value:
                return error(422, f"{only.field}: {only.detail}", only.field)
            return json_response(only, 201 if only.result == ScanResult.RECORDED.value else 200)
        return json_response(schemas.batch_out(results))
