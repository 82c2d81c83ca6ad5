"""The recipient's personal data at the HTTP edge: opened for the agent's
views (and each such read put on the record), masked in the history, and
erased on request.

- ``DELETE /api/v1/shipments/{n}/personal-data`` (agent, admin), body
  optionally ``{"reason": "..."}``: deletes the recipient's data key and
  records ``PersonalDataErased`` (who, when, why). Views then show the
  recipient as ``{"name": null, "postcode": null, "erased": true}``.
- ``GET /api/v1/access-records`` (agent: their own; admin: everyone's;
  ``?tracking_number=`` narrows): who read personal data, what, why, when.

A reader may say why in the ``X-Access-Reason`` header or ``?reason=``; a
read without one is recorded as such.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get
from litestar.di import NamedDependency
from litestar.params import Body, FromQuery

from adapters.access_records import AccessRecord, AccessRecords
from adapters.http.auth import AGENTS
from adapters.http.openapi import answer, operation
from adapters.http.paging import Page
from adapters.http.responses import json_response
from adapters.http import schemas
from tracking.application import ShipmentService
from tracking.booking import Recipient
from tracking.codes import SourceKind
from tracking.errors import InvalidInput
from tracking.identifiers import TrackingNumber, shipment_id
from tracking.personal_data import OpenedRecipient, SealedRecipient, Vault, subject_of
from tracking.scan import Source
from tracking.validation import RecordedDecoder

MAX_REASON = 200
NO_REASON = "none given"
_recipient: RecordedDecoder[Recipient | SealedRecipient] = RecordedDecoder(
    Recipient | SealedRecipient)


def reason_of(request: Request[Any, Any, Any]) -> str:
    """Why the reader reads (X-Access-Reason, or ?reason=), checked."""
    reason = (request.headers.get("x-access-reason") or request.query_params.get("reason")
              or "").strip()
    if len(reason) > MAX_REASON or not reason.isprintable():
        raise InvalidInput("reason", f"must be at most {MAX_REASON} printable characters")
    return reason or NO_REASON


def open_recipient(vault: Vault, sid: UUID, kept: Any) -> OpenedRecipient | None:
    """A view's recipient (as kept: sealed, or plain from before sealing) opened."""
    if kept is None:
        return None
    recipient = _recipient.convert(kept) if isinstance(kept, dict) else kept
    if isinstance(recipient, Recipient):  # recorded before sealing existed
        return OpenedRecipient(name=recipient.name, postcode=recipient.postcode,
                               country=str(recipient.country))
    return vault.open_recipient(subject_of(sid), recipient)


def personal_view(view: dict[str, Any], *, service: ShipmentService, records: AccessRecords,
                  principal: str, role: str, what: str, reason: str) -> dict[str, Any]:
    """An agent's view (a plain document) with its recipient opened; a
    read of a recipient still readable goes on the record first."""
    if view.get("recipient") is None:
        return view
    tn = str(view["tracking_number"])
    opened = open_recipient(service.personal_data, shipment_id(tn), view["recipient"])
    assert opened is not None
    if not opened.erased:
        records.add(AccessRecord(at=service.clock(), principal=principal, role=role,
                                 tracking_number=tn, what=what, reason=reason))
    view["recipient"] = msgspec.to_builtins(opened)
    return view


def read_by(request: Request[Any, Any, Any], service: ShipmentService, records: AccessRecords,
            view: dict[str, Any], what: str) -> dict[str, Any]:
    """``personal_view`` for the request's bearer."""
    return personal_view(view, service=service, records=records,
                         principal=request.state.principal,
                         role=getattr(request.state, "role", "merchant"), what=what,
                         reason=reason_of(request))


def masked(entry: schemas.HistoryEntry) -> schemas.HistoryEntry:
    """A history entry without the personal values it may hold: the history
    is about what was recorded when, the agent's view shows the recipient."""
    data = entry.data
    booking = data.get("booking") if isinstance(data, dict) else None
    if isinstance(booking, dict) and isinstance(booking.get("recipient"), dict):
        r = booking["recipient"]
        booking["recipient"] = {"country": r.get("country"), "personal_data": "sealed"}
    subscription = data.get("subscription") if isinstance(data, dict) else None
    if isinstance(subscription, dict) and "email" in subscription:
        subscription["email"] = "sealed"
    return entry


class ErasureIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REASON)] = (
        "the data subject asked for erasure")


class ErasureOut(msgspec.Struct):
    tracking_number: str
    erased: bool  # False: it had been erased already, nothing changed
    reason: str
    by: str
    position: int | None


class AccessRecordOut(msgspec.Struct):
    id: int
    at: datetime
    principal: str
    role: str
    tracking_number: str
    what: str
    reason: str


class PersonalDataController(Controller):
    path = "/"

    @delete("/shipments/{tracking_number:str}/personal-data", sync_to_thread=True,
            status_code=200, summary="Erase the recipient's personal data", tags=["privacy"],
            **operation(AGENTS, errors=(400, 404, 422, 503),
                        description="Deletes the recipient's data key (name, postcode, e-mail "
                                    "addresses become unreadable in every event, view and dead "
                                    "letter) and records who, when and why in the history; "
                                    "status, scans and ETA stay as they were.",
                        answers={200: answer(ErasureOut, "Erased (or already so)")}))
    def erase(
        self, tracking_number: schemas.TrackingNumberText, request: Request[Any, Any, Any],
        service: NamedDependency[ShipmentService],
        data: Annotated[ErasureIn | None, Body()] = None,
    ) -> Response[bytes]:
        tn = TrackingNumber(tracking_number)
        own = service.links.linked(tn) or tn
        reason = (data or ErasureIn()).reason
        if not reason.strip() or not reason.isprintable():
            raise InvalidInput("reason", f"must be 1 to {MAX_REASON} printable characters")
        result = service.shipments.erase_personal_data(
            own, reason, Source(SourceKind.AGENT, request.state.principal))
        return json_response(ErasureOut(tracking_number=str(own), erased=result.changed,
                                        reason=reason, by=request.state.principal,
                                        position=result.position))

    @get("/access-records", sync_to_thread=True, summary="Who read personal data",
         tags=["privacy"], **operation(
             AGENTS, errors=(400, 422, 503),
             description="Every read of a recipient's personal data, oldest first: an agent "
                         "sees their own, an admin everyone's.",
             answers={200: answer(list[AccessRecordOut], "The records")}))
    def access_records(
        self, request: Request[Any, Any, Any], page: NamedDependency[Page],
        access_records: NamedDependency[AccessRecords],
        tracking_number: FromQuery[schemas.TrackingNumberText | None] = None,
    ) -> Response[bytes]:
        mine = None if request.state.role == "admin" else request.state.principal
        tn = str(TrackingNumber(tracking_number)) if tracking_number else None
        found = access_records.list(principal=mine, tracking_number=tn, limit=page.limit,
                                    offset=page.offset)
        return json_response([msgspec.structs.asdict(r) for r in found])
