"""Small builders for test data, in the domain's words."""

from __future__ import annotations

import uuid
from decimal import Decimal
from datetime import UTC, datetime, timedelta, timezone

from tracking.booking import Booking, Recipient
from tracking.declaration import CurrencyCode, Declaration, DeclarationLine, HsCode, Incoterm
from tracking.codes import ExceptionReason, ScanEvent, SourceKind, TransportMode
from tracking.identifiers import CountryCode, Locode, TrackingNumber
from tracking.route import Leg, Route, RoutePlan
from tracking.scan import Scan, Source

TN = TrackingNumber("LX123456785CN")
AGENT = Source(SourceKind.AGENT, "agent-1")
HKT = timezone(timedelta(hours=8))


def at(day: int, hour: int = 0, tz: timezone = UTC) -> datetime:
    """A time in March 2009, the month of the DDD sample's voyages."""
    return datetime(2009, 3, day, hour, tzinfo=tz)


def leg(voyage: str, frm: str, to: str, departs: int, arrives: int, mode: str = "sea") -> Leg:
    return Leg(
        voyage=voyage,
        mode=TransportMode(mode),
        from_=Locode(frm),
        to=Locode(to),
        departs_at=at(departs),
        arrives_at=at(arrives),
    )


def route(*legs: Leg) -> Route:
    return Route(tuple(legs))


# Hong Kong to Stockholm over three legs.
HK_STO = route(
    leg("V100", "HKHKG", "USLAX", 3, 9),
    leg("R200", "USLAX", "USNYC", 10, 13, "rail"),
    leg("A300", "USNYC", "SESTO", 14, 15, "air"),
)
# From Tokyo via Hamburg, after a misdirection.
TYO_HAM_STO = route(
    leg("V400", "JPTYO", "DEHAM", 12, 20),
    leg("T500", "DEHAM", "SESTO", 21, 23, "road"),
)


def booking(
    origin: str = "HKHKG",
    destination: str = "SESTO",
    deliver_by: datetime | None = None,
    carrier: str = "postnord",
) -> Booking:
    dest = Locode(destination)
    return Booking(
        carrier=carrier,
        origin=Locode(origin),
        destination=dest,
        deliver_by=deliver_by if deliver_by is not None else at(18),
        recipient=Recipient("Astrid Lindgren", "11122", CountryCode(dest.country)),
    )


def plan(r: Route, destination: str = "SESTO", effective_at: datetime | None = None) -> RoutePlan:
    return RoutePlan(Locode(destination), r, effective_at)


def scan(
    event: str,
    location: str,
    day: int,
    hour: int = 0,
    *,
    voyage: str | None = None,
    reason: str | None = None,
    tn: str = TN,
    scan_id: str | None = None,
    tz: timezone = UTC,
) -> Scan:
    return Scan(
        scan_id=scan_id or uuid.uuid4().hex,
        tracking_number=TrackingNumber(tn),
        event=ScanEvent(event),
        location=Locode(location),
        occurred_at=at(day, hour, tz),
        device_id="dev-1",
        voyage=voyage,
        reason=ExceptionReason(reason) if reason else None,
    )


def line(
    hs_code: str = "610910",
    quantity: int = 2,
    unit_value: str = "12.50",
    description: str = "cotton t-shirt",
    origin: str = "CN",
) -> DeclarationLine:
    return DeclarationLine(
        description=description,
        hs_code=HsCode(hs_code),
        quantity=quantity,
        unit_value=Decimal(unit_value),
        origin_country=CountryCode(origin),
    )


def declaration(
    *lines: DeclarationLine,
    country: str = "SE",
    currency: str = "EUR",
    incoterm: str = "DAP",
    tn: str = TN,
    ioss: str | None = None,
) -> Declaration:
    return Declaration(
        tracking_number=TrackingNumber(tn),
        destination_country=CountryCode(country),
        incoterm=Incoterm(incoterm),
        currency=CurrencyCode(currency),
        lines=lines or (line(),),
        importer_ioss=ioss,
    )
