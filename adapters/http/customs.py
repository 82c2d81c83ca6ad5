"""The customs resource: declare a shipment's goods, report what customs
did, read an entry, list entries, and totals by country and status.

Wire formats are decoded here and translated to domain values, which name
the field that is wrong; the domain decides everything else.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Body, Parameter

from adapters.http import examples, openapi
from adapters.http.auth import AGENTS, CUSTOMS_WRITERS
from adapters.http.ownership import check_shipment
from adapters.http.constraints import amount, choice, optional_query, text, value
from adapters.http.openapi import operation
from adapters.http.paging import Page
from adapters.http.responses import json_response
from adapters.http.schemas import (
    CountryText,
    TrackingNumberText,
    _choice,
    _within,
)
from projections.customs import CustomsEntryView, CustomsTotal, CustomsView, customs_view
from tracking.application import ShipmentService
from tracking.codes import SourceKind
from tracking.compliance import Charges
from tracking.customs import MAX_DETAIL, CustomsEntryNotFound, CustomsStatus
from tracking.declaration import (
    MAX_DESCRIPTION,
    MAX_LINES,
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
Positive = amount(positive=True)
NonNegative = amount(positive=False)
Detail = text(MAX_DETAIL)
Description = text(MAX_DESCRIPTION)
HsCodeText = value(HsCode)
CurrencyText = value(CurrencyCode)
IncotermText = choice(Incoterm)
CustomsEventText = choice([s for s in CustomsStatus if s is not CustomsStatus.DECLARED])
StatusQuery = optional_query(options=CustomsStatus)
CountryQuery = optional_query(CountryCode)
TrackingNumberQuery = optional_query(TrackingNumber)


class DeclarationLineIn(msgspec.Struct, forbid_unknown_fields=True):
    description: Description
    hs_code: HsCodeText
    quantity: Annotated[int, Parameter(schema_extra={"minimum": 1})]
    unit_value: Positive
    origin_country: CountryText


class CustomsEntryIn(msgspec.Struct, forbid_unknown_fields=True):
    tracking_number: TrackingNumberText
    destination_country: CountryText
    incoterm: IncotermText
    currency: CurrencyText
    lines: Annotated[list[DeclarationLineIn],
                     Parameter(schema_extra={"minItems": 1, "maxItems": MAX_LINES})]
    importer_ioss: Annotated[str, Parameter(schema_extra={"pattern": "^IM[0-9]{10}$"})] | None = None
    importer_eori: Annotated[str, Parameter(
        schema_extra={"pattern": "^[A-Z]{2}[A-Z0-9]{1,15}$"})] | None = None


class ChargesIn(msgspec.Struct, forbid_unknown_fields=True):
    duty: NonNegative = "0"
    vat: NonNegative = "0"
    fees: NonNegative = "0"


class CustomsEventIn(msgspec.Struct, forbid_unknown_fields=True):
    """HELD takes a ``reason``; DUTIES_ASSESSED an ``amount`` and/or ``charges``."""

    event: CustomsEventText
    occurred_at: datetime
    reason: Detail | None = None
    detail: Detail | None = None
    amount: Positive | None = None
    charges: ChargesIn | None = None


class CustomsWritten(CustomsEntryView, kw_only=True):
    """A write's answer: the entry, and the position of the write in the log."""

    position: int | None = None
    amended: bool = False  # the declaration route: whether it changed the declaration
    duplicate: bool = False  # the events route: the same report was already recorded




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


# Not checked as a UUID on the way in: anything else is an entry that does not exist (404).
EntryId = Annotated[str, Parameter(schema_extra={"format": "uuid"})]


def _entry_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise CustomsEntryNotFound(raw) from None


def _answer(service: ShipmentService, entry_id: UUID, position: int | None, status: int,
            **extra: Any) -> Response[bytes]:
    """A write's answer: the entry as it is now, and the write's position."""
    view: dict[str, Any] = msgspec.to_builtins(
        customs_view(service.customs.customs_entry(entry_id)), enc_hook=enc_hook
    )
    view.update(extra, position=position)
    return json_response(view, status)


def _source(request: Request[Any, Any, Any]) -> Source:
    kind = SourceKind.CARRIER if request.state.role == "carrier" else SourceKind.AGENT
    return Source(kind, request.state.principal)


class CustomsController(Controller):
    """Entries under /customs-entries; totals under /customs/summary."""

    path = "/"

    @post("/customs-entries", sync_to_thread=True, status_code=201,
          summary="Declare a shipment's goods to customs", tags=["customs"], **operation(
              CUSTOMS_WRITERS, errors=(400, 404, 409, 422, 503),
              description="Answers 201 with the entry, its compliance findings and the duties "
                          "estimated; the same declaration again answers 200; a different one "
                          "for the same shipment and country 409 (amend it instead).",
              answers={201: openapi.answer(CustomsWritten, "Declared: the entry"),
                       200: openapi.answer(CustomsWritten, "Already declared so: nothing changed")}))
    def declare(
        self,
        data: Annotated[CustomsEntryIn, Body(examples=[examples.CUSTOMS_ENTRY])],
        request: Request[Any, Any, Any], service: NamedDependency[ShipmentService],
    ) -> Response[bytes]:
        declaration = to_declaration(data)
        check_shipment(request, declaration.tracking_number)  # a merchant's own only
        declared = service.customs.declare(declaration, _source(request))
        return _answer(service, declared.entry_id, declared.position,
                       201 if declared.created else 200)

    @post("/customs-entries/{entry_id:str}/declaration", sync_to_thread=True, status_code=200,
          summary="Amend an entry's declaration", tags=["customs"], **operation(
              CUSTOMS_WRITERS, errors=(400, 404, 409, 422, 503),
              description="A new declaration for the same shipment and country, checked "
                          "again; the one it replaces stays in the entry's history.",
              answers={200: openapi.answer(CustomsWritten, "The entry, amended if it differed")}))
    def amend(
        self, entry_id: EntryId,
        # The example also keeps the component's: Litestar writes it there from the
        # first route that documents the body, and a controller's routes go by name.
        data: Annotated[CustomsEntryIn, Body(examples=[examples.CUSTOMS_ENTRY])],
        request: Request[Any, Any, Any], service: NamedDependency[ShipmentService],
    ) -> Response[bytes]:
        declaration = to_declaration(data)
        check_shipment(request, declaration.tracking_number)  # a merchant's own only
        declared = service.customs.amend(_entry_id(entry_id), declaration, _source(request))
        return _answer(service, declared.entry_id, declared.position, 200,
                       amended=declared.created)

    @post("/customs-entries/{entry_id:str}/events", sync_to_thread=True, status_code=201,
          summary="Report what customs did with an entry", tags=["customs"], **operation(
              CUSTOMS_WRITERS, errors=(400, 404, 409, 422, 503),
              description="LODGED, ACCEPTED, HELD (reason: DOCUMENTS, INSPECTION, PAYMENT, "
                          "PROHIBITED_GOODS, OTHER), DUTIES_ASSESSED (amount and/or charges "
                          "{duty, vat, fees}), DUTIES_PAID, RELEASED, REJECTED, SEIZED, "
                          "RETURNED. A transition the entry's state does not allow answers "
                          "409; the same report again answers 200 with duplicate true.",
              answers={201: openapi.answer(CustomsWritten, "Recorded: the entry"),
                       200: openapi.answer(CustomsWritten, "Already recorded (duplicate true)")}))
    def event(
        self,
        entry_id: EntryId, data: Annotated[CustomsEventIn, Body(examples=[examples.CUSTOMS_EVENT])],
        request: Request[Any, Any, Any], service: NamedDependency[ShipmentService],
    ) -> Response[bytes]:
        eid = _entry_id(entry_id)
        status = _choice("event", data.event.strip().upper(), CustomsStatus)
        result = service.customs.record_customs_event(
            eid, status, occurred_at=data.occurred_at, source=_source(request),
            reason=data.reason, detail=data.detail,
            amount=_amount("amount", data.amount) if data.amount is not None else None,
            charges=to_charges(data.charges) if data.charges is not None else None,
        )
        return _answer(service, eid, result.position, 201 if result.changed else 200,
                       duplicate=not result.changed)

    @get("/customs-entries/{entry_id:str}", sync_to_thread=True, summary="A customs entry",
         tags=["customs"], **operation(CUSTOMS_WRITERS, errors=(400, 404, 503),
                                       answers={200: openapi.answer(CustomsEntryView, "The entry")}))
    def entry(
        self, entry_id: EntryId, customs_entries: NamedDependency[CustomsView]
    ) -> Response[bytes]:
        view = customs_entries.entry(_entry_id(entry_id))
        if view is None:
            raise CustomsEntryNotFound(entry_id)
        return json_response(view)

    @get("/customs-entries", sync_to_thread=True,
         summary="Customs entries by status, country or tracking number, latest first",
         tags=["customs"], **operation(
             AGENTS, errors=(400, 422, 503),
             answers={200: openapi.answer(list[CustomsEntryView], "The entries, latest first")}))
    def entries(
        self,
        customs_entries: NamedDependency[CustomsView],
        status: StatusQuery = None,
        country: CountryQuery = None,
        tracking_number: TrackingNumberQuery = None,
        *,
        page: NamedDependency[Page],  # limit, offset
    ) -> Response[bytes]:
        if status is not None:
            status = _choice("status", status.upper(), CustomsStatus).value
        views = customs_entries.entries(
            status=status,
            country=CountryCode(country, "country") if country else None,
            tracking_number=TrackingNumber(tracking_number) if tracking_number else None,
            limit=page.limit, offset=page.offset,
        )
        return json_response(b"[" + b",".join(views) + b"]")

    @get("/customs/summary", sync_to_thread=True,
         summary="Entries and duties (estimated and assessed) by country and status",
         tags=["customs"], **operation(
             AGENTS, errors=(400, 503),
             answers={200: openapi.answer(list[CustomsTotal], "Totals by country, status, currency")}))
    def summary(self, customs_entries: NamedDependency[CustomsView]) -> Response[bytes]:
        return json_response(customs_entries.totals())
