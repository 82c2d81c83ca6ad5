"""GET /api/v1/exceptions: the shipments' exceptions (open, closed or all),
oldest first, as the shipments view holds them."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from adapters.http import schemas
from adapters.http.auth import AGENTS
from adapters.http.constraints import optional_query
from adapters.http.openapi import answer, operation
from adapters.http.paging import Page
from adapters.http.responses import json_response
from projections.shipments import ShipmentsView
from tracking.errors import InvalidInput
from tracking.exceptions import ExceptionKind

ExceptionKindQuery = optional_query(options=ExceptionKind)
STATES = ("open", "closed", "all")


class ExceptionController(Controller):
    path = "/exceptions"

    @get("/", sync_to_thread=True, summary="Shipment exceptions, oldest first",
         tags=["reading"], **operation(
             AGENTS, errors=(400, 422, 503),
             answers={200: answer(list[schemas.ExceptionOut], "The exceptions, oldest first")}))
    def exceptions(
        self,
        shipments: NamedDependency[ShipmentsView],
        state_: Annotated[str, QueryParameter(
            name="state", description="open, closed or all",
            schema_extra={"enum": list(STATES)})] = "open",
        kind: ExceptionKindQuery = None,
        *,
        page: NamedDependency[Page],  # limit, offset
    ) -> Response[bytes]:
        state = state_
        if state not in STATES:
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
