"""The exceptions queue and the agents' casework over JSON: the queue with
its filters and the time each has been open, counts per kind, and
acknowledge / assign / comment / snooze / resolve, each recorded as an event
on the shipment with the agent's identity (``tracking.casework``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from adapters.http import schemas
from adapters.http.auth import AGENTS
from adapters.http.constraints import optional_query
from adapters.http.openapi import answer, operation
from adapters.http.paging import Page
from adapters.http.responses import json_response
from projections.exceptions import ExceptionRow, Queue
from projections.shipments import ShipmentsView
from tracking.application import ShipmentService
from tracking.casework import CaseAction, casework
from tracking.codes import SourceKind
from tracking.errors import InvalidInput
from tracking.exceptions import ExceptionKind
from tracking.identifiers import Locode, TrackingNumber
from tracking.scan import Source

KindQuery = optional_query(options=ExceptionKind)
LocodeQuery = optional_query(Locode)
NameQuery = Annotated[str | None, QueryParameter(max_length=80)]
StateQuery = Annotated[str, QueryParameter(
    name="state", description="open, closed or all",
    schema_extra={"enum": ["open", "closed", "all"]})]
AgeQuery = Annotated[int | None, QueryParameter(
    ge=0, le=100_000, description="only those open (or raised) at least this many hours ago")]


class QueueItemOut(msgspec.Struct, kw_only=True):
    tracking_number: str
    kind: str
    state: Literal["open", "closed"]
    raised_at: datetime
    cleared_at: datetime | None
    open_seconds: int  # how long it has been (or was) open: the SLA clock
    details: str
    carrier: str | None
    origin: str | None
    destination: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    assignee: str | None
    snoozed_until: datetime | None
    comments: int
    resolved_by: str | None
    cleared_by: str | None
    cleared_by_version: int | None


class CaseworkIn(msgspec.Struct, forbid_unknown_fields=True):
    """``assignee`` for assign, ``text`` for comment (and a note on resolve),
    ``until`` for snooze."""

    action: Literal["acknowledge", "assign", "comment", "snooze", "resolve"]
    assignee: Annotated[str, msgspec.Meta(max_length=80)] | None = None
    text: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    until: datetime | None = None


class CaseworkOut(msgspec.Struct):
    tracking_number: str
    kind: str
    action: str
    position: int | None


def queue_item(row: ExceptionRow, now: datetime) -> QueueItemOut:
    fields = msgspec.structs.asdict(row)
    open_for = (row.cleared_at or now) - row.raised_at
    return QueueItemOut(**fields | {"kind": row.kind.value},
                        state="open" if row.cleared_at is None else "closed",
                        open_seconds=max(int(open_for.total_seconds()), 0))


def parse_queue(
    state: str, carrier: str | None, origin: str | None, destination: str | None,
    assignee: str | None, min_age_hours: int | None, now: datetime,
) -> tuple[str | None, Queue]:
    if state not in ("open", "closed", "all"):
        raise InvalidInput("state", f"{state!r} is not one of open, closed, all")
    return (None if state == "all" else state), Queue(
        carrier=carrier, assignee=assignee,
        origin=str(Locode(origin, "origin")) if origin else None,
        destination=str(Locode(destination, "destination")) if destination else None,
        raised_before=now - timedelta(hours=min_age_hours) if min_age_hours is not None else None)


class ExceptionController(Controller):
    path = "/exceptions"
    tags = ["exceptions"]

    @get("/", sync_to_thread=True, summary="Shipment exceptions, oldest first",
         tags=["reading"], **operation(
             AGENTS, errors=(400, 422, 503),
             answers={200: answer(list[schemas.ExceptionOut], "The exceptions, oldest first")}))
    def exceptions(
        self,
        shipments: NamedDependency[ShipmentsView],
        state_: StateQuery = "open",
        kind: KindQuery = None,
        *,
        page: NamedDependency[Page],  # limit, offset
    ) -> Response[bytes]:
        state = state_
        if state not in ("open", "closed", "all"):
            raise InvalidInput("state", f"{state!r} is not one of open, closed, all")
        rows = shipments.exceptions(
            state=None if state == "all" else state, kind=kind, limit=page.limit,
            offset=page.offset,
        )
        return json_response([
            schemas.ExceptionOut(
                tracking_number=r.tracking_number, kind=r.kind.value,
                state="open" if r.cleared_at is None else "closed",
                raised_at=r.raised_at, cleared_at=r.cleared_at, details=r.details,
            )
            for r in rows
        ])


    @get("/queue", sync_to_thread=True, summary="The exceptions queue, oldest first",
         **operation(AGENTS, errors=(400, 422, 503), answers={
             200: answer(list[QueueItemOut], "Exceptions with their casework")}))
    def queue(
        self, service: NamedDependency[ShipmentService],
        shipments: NamedDependency[ShipmentsView], state_: StateQuery = "open", kind: KindQuery = None,
        carrier: NameQuery = None, origin: LocodeQuery = None,
        destination: LocodeQuery = None, assignee: NameQuery = None,
        min_age_hours: AgeQuery = None, limit: schemas.Limit = 100,
        offset: schemas.Offset = 0,
    ) -> Response[bytes]:
        now = service.clock()
        if kind is not None and kind not in ExceptionKind.__members__.values():
            raise InvalidInput("kind", f"{kind!r} is not an exception kind")
        state, queue = parse_queue(state_, carrier, origin, destination, assignee,
                                   min_age_hours, now)
        rows = shipments.exceptions(state=state, kind=kind, limit=limit, offset=offset,
                                    queue=queue)
        return json_response([queue_item(r, now) for r in rows])

    @get("/counts", sync_to_thread=True, summary="How many exceptions of each kind",
         **operation(AGENTS, errors=(400, 422, 503), answers={
             200: answer(dict[str, int], "Each kind with its count", {"MISDIRECTED": 2})}))
    def counts(
        self, service: NamedDependency[ShipmentService],
        shipments: NamedDependency[ShipmentsView], state_: StateQuery = "open", carrier: NameQuery = None,
        origin: LocodeQuery = None, destination: LocodeQuery = None,
        assignee: NameQuery = None, min_age_hours: AgeQuery = None,
    ) -> Response[bytes]:
        state, queue = parse_queue(state_, carrier, origin, destination, assignee,
                                   min_age_hours, service.clock())
        return json_response(shipments.exception_counts(state=state, queue=queue))

    @post("/{tracking_number:str}/{kind:str}/casework", sync_to_thread=True,
          status_code=201, summary="Acknowledge, assign, comment, snooze or resolve",
          **operation(AGENTS, errors=(400, 404, 422, 503),
                      description="Recorded as an event on the shipment, with the agent's "
                                  "identity; refused (422 on kind) unless that exception "
                                  "is open now.",
                      answers={201: answer(CaseworkOut, "Recorded")}))
    def work(
        self, service: NamedDependency[ShipmentService],
        tracking_number: schemas.TrackingNumberText, kind: FromPath[str],
        data: JSONBody[CaseworkIn], request: Request[Any, Any, Any],
    ) -> Response[bytes]:
        return json_response(record_casework(service, request.state.principal,
                                             tracking_number, kind, data), 201)


def record_casework(
    service: ShipmentService, principal: str, tracking_number: str, kind: str, data: CaseworkIn
) -> CaseworkOut:
    """Check and record one piece of casework (the JSON route and the console's forms)."""
    tn = TrackingNumber(tracking_number)
    work = casework(kind, data.action, assignee=data.assignee, text=data.text,
                    until=data.until, now=service.clock())
    result = service.shipments.work_exception(tn, work, Source(SourceKind.AGENT, principal))
    return CaseworkOut(tracking_number=str(tn), kind=work.kind.value,
                       action=CaseAction(work.action).value, position=result.position)
