"""The dead-letter endpoints: what arrived but could not be a scan (kept
with its reason, never dropped), and the corrected scan an agent records in
its place."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from adapters import deadletters
from adapters.deadletters import DeadLetterStore
from adapters.http import openapi, schemas
from adapters.http.auth import AGENTS
from adapters.http.errors import error
from adapters.http.openapi import answer, operation
from adapters.http.paging import Page
from adapters.http.responses import json_response
from tracking.application import ScanResult, ShipmentService
from tracking.codes import SourceKind
from tracking.scan import Source


class DeadLetterController(Controller):
    """Without a store (no ingestion here) nothing is listed and nothing found."""

    path = "/dead-letters"

    @get("/", sync_to_thread=True,
         summary="What arrived but could not be a scan, oldest first", tags=["scans"],
         **operation(AGENTS, errors=(400, 503),
                     answers={200: answer(list[schemas.DeadLetterOut], "The dead letters")}))
    def dead_letters(
        self, letters: NamedDependency[DeadLetterStore | None], pending: FromQuery[bool] = True,
        *, page: NamedDependency[Page],  # limit, offset
    ) -> Response[bytes]:
        if letters is None:
            return json_response([])
        found = letters.list(pending_only=pending, limit=page.limit, offset=page.offset)
        return json_response([
            schemas.DeadLetterOut(
                id=x.id, received_at=x.received_at, topic=x.topic, reason=x.reason, field=x.field,
                payload=x.payload.decode("utf-8", "backslashreplace"),
                resubmitted_at=x.resubmitted_at, resubmitted_as=x.resubmitted_as)
            for x in found
        ])

    @post("/{letter_id:str}/resubmit", status_code=201,
          summary="Record a corrected scan in a dead letter's place", tags=["scans"],
          dto=openapi.raw_body(schemas.ScanIn), **operation(
              AGENTS, errors=(400, 404, 409, 422, 503),
              description="The corrected scan; a dead letter is resubmitted once (409 after).",
              answers={201: answer(schemas.ScanResultOut, "The corrected scan is recorded")}))
    async def resubmit(
        self, letter_id: FromPath[str], request: Request[Any, Any, Any],
        letters: NamedDependency[DeadLetterStore | None],
        service: NamedDependency[ShipmentService], data: JSONBody[bytes] = b"",
    ) -> Response[bytes]:
        if letters is None:
            return error(404, f"no dead letter {letter_id}")
        scan = schemas.to_scan(schemas.decode(schemas.SCAN, data))
        source = Source(SourceKind.AGENT, request.state.principal)
        try:
            outcome = await anyio.to_thread.run_sync(
                deadletters.resubmit, letters, service, letter_id, scan, source)
        except deadletters.NoSuchDeadLetter as e:
            return error(404, str(e))
        except deadletters.AlreadyResubmitted as e:
            return error(409, str(e))
        if outcome.result is ScanResult.REJECTED:
            return error(422, f"{outcome.field}: {outcome.reason}", outcome.field)
        return json_response(schemas.scan_result_out(outcome), 201)
