"""The console's dead letters (``/agent/dead-letters``): what arrived but
could not be a scan, with its raw payload and reason; resubmit one with an
edit box, or several as they were stored (after the cause was fixed: a
device registered, a shipment booked), after a confirmation, answering how
many were recorded and why each other one was not."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath

from adapters import deadletters
from adapters.http import schemas
from adapters.http.console import N_, PATH, Console
from adapters.http.signin import see_other as see
from adapters.http.session import ConsoleSession
from adapters.mqtt.consumer import stored_scan
from tracking.codes import SourceKind
from tracking.errors import TrackingError
from tracking.scan import Source

SHOWN = 200
BACK = f"{PATH}/dead-letters"


class ResubmitForm(msgspec.Struct):
    scan: str = ""


def _agent(request: Request[Any, Any, Any]) -> Source:
    session: ConsoleSession = request.scope["console_session"]  # type: ignore[typeddict-item]
    return Source(SourceKind.AGENT, session.principal)


class DeadLetterPages(Controller):
    path = PATH
    include_in_schema = False

    @get("/dead-letters", sync_to_thread=True)
    def dead_letters(self, request: Request[Any, Any, Any],
                     console: NamedDependency[Console]) -> Response[bytes]:
        letters = console.letters.list(pending_only=True, limit=SHOWN, offset=0) \
            if console.letters else []
        return console.render(request, "dead_letters.html", letters=[
            {"id": x.id, "received_at": x.received_at, "topic": x.topic, "reason": x.reason,
             "field": x.field, "payload": x.payload.decode("utf-8", "backslashreplace")}
            for x in letters], done=request.query_params.get("done"))

    @post("/dead-letters/{letter_id:str}/resubmit", status_code=303)
    async def resubmit(
        self, letter_id: FromPath[str], request: Request[Any, Any, Any],
        console: NamedDependency[Console],
        data: ResubmitForm = Body(media_type=RequestEncodingType.URL_ENCODED),  # noqa: B008
    ) -> Response[bytes]:
        if console.letters is None:
            return console.render(request, "message.html", 404, heading=N_("Not found"),
                                  text=f"no dead letter {letter_id}", back=BACK)
        try:
            scan = schemas.to_scan(schemas.decode(schemas.SCAN, data.scan.encode()))
            outcome = await anyio.to_thread.run_sync(
                deadletters.resubmit, console.letters, console.service, letter_id, scan,
                _agent(request))
        except (TrackingError, deadletters.NoSuchDeadLetter,
                deadletters.AlreadyResubmitted) as e:
            return console.render(request, "message.html", 422, heading=N_("Not resubmitted"),
                                  text=str(e), back=BACK)
        if outcome.reason is not None:
            return console.render(request, "message.html", 422, heading=N_("Not resubmitted"),
                                  text=f"{outcome.field}: {outcome.reason}", back=BACK)
        return see(f"{BACK}?{urlencode({'done': letter_id})}")

    @post("/dead-letters/resubmit")
    async def resubmit_many(self, request: Request[Any, Any, Any],
                            console: NamedDependency[Console]) -> Response[bytes]:
        """The ticked letters (``ids``), or every pending one (``every``),
        resubmitted as stored: first a page asking to confirm (nothing is
        recorded), then, with ``confirm=yes``, the results."""
        form = await request.form()
        letters = console.letters
        if form.get("every") and letters is not None:
            ids = [x.id for x in await anyio.to_thread.run_sync(
                lambda: letters.list(pending_only=True, limit=SHOWN, offset=0))]
        else:
            ids = list(dict.fromkeys(str(i) for i in form.getall("ids", [])))
        if not ids or letters is None:
            return console.render(request, "message.html", 422, heading=N_("Nothing resubmitted"),
                                  text=N_("Select at least one dead letter to resubmit."),
                                  back=BACK)
        if form.get("confirm") != "yes":
            return console.render(request, "dead_letters_confirm.html", ids=ids)
        done = await anyio.to_thread.run_sync(
            deadletters.resubmit_stored, letters, console.service, ids,
            lambda x: stored_scan(x, console.devices), _agent(request))
        return console.render(request, "dead_letters_done.html", done=done,
                              recorded=sum(x.recorded for x in done))
