"""The customs endpoints: declare a shipment's goods, report what customs
did, read an entry, list entries, and totals by country and status.

Wire formats are decoded here and translated to domain values, which name
the field that is wrong; the domain decides everything else.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.types import Guard

from adapters.http.responses import json_response
from adapters.http.schemas import _choice, _within
from projections.customs import CustomsView, customs_view
from tracking.application import ShipmentService
from tracking.codes import SourceKind
from tracking.compliance import Charges
from tracking.customs import CustomsEntryNotFound, CustomsStatus
from tracking.declaration import (
    CurrencyCode,
    Declaration,
    DeclarationLine,
    HsCode,
    Incoterm,
    parse_amount,
)
from tracking.errors import InvalidInput
from tracking.identifiers import CountryCode, TrackingNumber
from tracking.mapper import enc_hook
from tracking.scan import Source

Amount = str | int | float  # "12.50" is preferred; JSON numbers are taken as written


class DeclarationLineIn(msgspec.Struct, forbid_unknown_fields=True):
    description: str
    hs_code: str
    quantity: int
    unit_value: Amount
    origin_country: str


class CustomsEntryIn(msgspec.Struct, forbid_unknown_fields=True):
    tracking_number: str
    destination_country: str
    incoterm: str
    currency: str
    lines: list[DeclarationLineIn]
    importer_ioss: str | None = None
    importer_eori: str | None = None


class ChargesIn(msgspec.Struct, forbid_unknown_fields=True):
    duty: Amount = "0"
    vat: Amount = "0"
    fees: Amount = "0"


class CustomsEventIn(msgspec.Struct, forbid_unknown_fields=True):
    event: str
    occurred_at: datetime
    reason: str | None = None
    detail: str | None = None
    amount: Amount | None = None
    charges: ChargesIn | None = None




def _amount(field: str, value: Amount) -> Decimal:
    if isinstance(value, bool):
        raise InvalidInput(field, "must be a decimal amount such as '12.50'")
    return parse_amount(field, str(value))


def to_line(line: DeclarationLineIn) -> DeclarationLine:
    return DeclarationLine(
        description=line.description,
        hs_code=HsCode(line.hs_code),
        quantity=line.quantity,
        unit_value=_amount("unit_value", line.unit_value),
        origin_country=CountryCode(line.origin_country, "origin_country"),
    )


def to_declaration(body: CustomsEntryIn) -> Declaration:
    lines = tuple(
        _within(f"lines[{i}]", lambda line=line: to_line(line)) for i, line in enumerate(body.lines)
    )
    return Declaration(
        tracking_number=TrackingNumber(body.tracking_number),
        destination_country=CountryCode(body.destination_country, "destination_country"),
        incoterm=_choice("incoterm", body.incoterm.strip().upper(), Incoterm),
        currency=CurrencyCode(body.currency),
        lines=lines,
        importer_ioss=body.importer_ioss,
        importer_eori=body.importer_eori,
    )


def to_charges(body: ChargesIn) -> Charges:
    return Charges(
        duty=_amount("charges.duty", body.duty),
        vat=_amount("charges.vat", body.vat),
        fees=_amount("charges.fees", body.fees),
    )


def _entry_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise CustomsEntryNotFound(raw) from None


def routes(service: ShipmentService, store: CustomsView, *, writers: Guard, readers: Guard,
           agents: Guard) -> list[Any]:
    """The customs handlers, for the /api/v1 router."""

    def answer(entry_id: UUID, position: int | None, status: int, **extra: Any) -> Response[bytes]:
        view: dict[str, Any] = msgspec.to_builtins(
            customs_view(service.customs_entry(entry_id)), enc_hook=enc_hook
        )
        view.update(extra, position=position)
        return json_response(view, status)

    def source(request: Request[Any, Any, Any]) -> Source:
        kind = SourceKind.CARRIER if request.state.role == "carrier" else SourceKind.AGENT
        return Source(kind, request.state.principal)

    @post("/customs-entries", guards=[writers], sync_to_thread=True, status_code=201,
          summary="Declare a shipment's goods to customs", tags=["customs"],
          description="Answers 201 with the entry, its compliance findings and the duties "
                      "estimated; the same declaration again answers 200; a different one "
                      "for the same shipment and country 409 (amend it instead).")
    def declare(
        data: JSONBody[CustomsEntryIn], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        declaration = to_declaration(data)
        declared = service.declare(declaration, source(request))
        return answer(declared.entry_id, declared.position, 201 if declared.created else 200)

    @post("/customs-entries/{entry_id:str}/declaration", guards=[writers], sync_to_thread=True,
          status_code=200, summary="Amend an entry's declaration", tags=["customs"],
          description="A new declaration for the same shipment and country, checked again; "
                      "the one it replaces stays in the entry's history.")
    def amend(
        entry_id: FromPath[str], data: JSONBody[CustomsEntryIn], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        declaration = to_declaration(data)
        declared = service.amend(_entry_id(entry_id), declaration, source(request))
        return answer(declared.entry_id, declared.position, 200, amended=declared.created)

    @post("/customs-entries/{entry_id:str}/events", guards=[writers], sync_to_thread=True,
          status_code=201, summary="Report what customs did with an entry", tags=["customs"],
          description="LODGED, ACCEPTED, HELD (reason: DOCUMENTS, INSPECTION, PAYMENT, "
                      "PROHIBITED_GOODS, OTHER), DUTIES_ASSESSED (amount and/or charges "
                      "{duty, vat, fees}), DUTIES_PAID, RELEASED, REJECTED, SEIZED, RETURNED. "
                      "A transition the entry's state does not allow answers 409; the same "
                      "report again answers 200 with duplicate true.")
    def event(
        entry_id: FromPath[str], data: JSONBody[CustomsEventIn], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        eid = _entry_id(entry_id)
        status = _choice("event", data.event.strip().upper(), CustomsStatus)
        result = service.record_customs_event(
            eid, status, occurred_at=data.occurred_at, source=source(request),
            reason=data.reason, detail=data.detail,
            amount=_amount("amount", data.amount) if data.amount is not None else None,
            charges=to_charges(data.charges) if data.charges is not None else None,
        )
        return answer(eid, result.position, 201 if result.changed else 200,
                      duplicate=not result.changed)

    @get("/customs-entries/{entry_id:str}", guards=[readers], sync_to_thread=True,
         summary="A customs entry", tags=["customs"])
    def entry(entry_id: FromPath[str]) -> Response[bytes]:
        view = store.entry(_entry_id(entry_id))
        if view is None:
            raise CustomsEntryNotFound(entry_id)
        return json_response(view)

    @get("/customs-entries", guards=[agents], sync_to_thread=True,
         summary="Customs entries by status, country or tracking number, latest first",
         tags=["customs"])
    def entries(
        status: FromQuery[str | None] = None,
        country: FromQuery[str | None] = None,
        tracking_number: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
        offset: FromQuery[int] = 0,
    ) -> Response[bytes]:
        if status is not None:
            status = _choice("status", status.upper(), CustomsStatus).value
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit", "must be between 1 and 1000")
        if offset < 0:
            raise InvalidInput("offset", "must not be negative")
        views = store.entries(
            status=status,
            country=CountryCode(country, "country") if country else None,
            tracking_number=TrackingNumber(tracking_number) if tracking_number else None,
            limit=limit, offset=offset,
        )
        return json_response(b"[" + b",".join(views) + b"]")

    @get("/customs/summary", guards=[agents], sync_to_thread=True,
         summary="Entries and duties (estimated and assessed) by country and status",
         tags=["customs"])
    def summary() -> Response[bytes]:
        return json_response(store.totals())

    return [declare, amend, event, entry, entries, summary]
