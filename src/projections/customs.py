"""The customs view: each customs entry as merchants, carriers and agents
read it (declaration, findings, duties estimated and assessed, what customs
did), and totals by country and status."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec

from tracking.compliance import Charges, Estimate, Finding
from tracking.customs import CustomsEntry, CustomsEntryState, CustomsStatus, CustomsStep, HoldReason
from tracking.declaration import DeclarationLine, Incoterm


class EstimateOut(msgspec.Struct, kw_only=True):
    regime: str
    rules_version: str
    value: Decimal
    charges: Charges
    total: Decimal
    payer: str
    notes: tuple[str, ...]


class Assessed(msgspec.Struct, kw_only=True, omit_defaults=True):
    amount: Decimal
    unpaid: Decimal
    charges: Charges | None = None
    paid: Decimal | None = None
    # Assessed minus estimated: how far the estimate was off (None without one).
    difference: Decimal | None = None


class CustomsEntryView(msgspec.Struct, kw_only=True):
    """GET /api/v1/customs-entries/{entry_id}."""

    entry_id: UUID
    tracking_number: str
    destination_country: str
    status: CustomsStatus
    hold_reason: HoldReason | None
    incoterm: Incoterm
    currency: str
    value: Decimal
    lines: tuple[DeclarationLine, ...]
    importer_ioss: str | None
    importer_eori: str | None
    findings: tuple[Finding, ...]
    estimate: EstimateOut | None
    assessed: Assessed | None
    events: list[CustomsStep]
    amendments: int
    version: int
    declared_at: datetime
    updated_at: datetime


class ProjectedEntry(msgspec.Struct, kw_only=True):
    state: CustomsEntryState


class CustomsRow(msgspec.Struct, kw_only=True):
    entry_id: UUID
    tracking_number: str
    country: str
    status: str
    currency: str
    estimated: Decimal | None
    assessed: Decimal | None
    declared_at: datetime
    updated_at: datetime
    position: int
    projected: bytes
    view: bytes


class CustomsTotal(msgspec.Struct, kw_only=True):
    """Entries of one country, status and currency, with their duties
    estimated and assessed (summed over the entries that have them)."""

    country: str
    status: str
    currency: str
    entries: int
    estimated: Decimal
    assessed: Decimal
    assessed_entries: int


def customs_view(entry: CustomsEntry) -> CustomsEntryView:
    d = entry.declaration
    estimate = None
    if entry.estimate is not None:
        e: Estimate = entry.estimate
        estimate = EstimateOut(
            regime=e.regime, rules_version=e.rules_version, value=e.value, charges=e.charges,
            total=e.charges.total, payer=e.payer, notes=e.notes,
        )
    assessed = None
    if entry.assessed is not None:
        assessed = Assessed(
            amount=entry.assessed,
            charges=entry.assessed_charges,
            paid=entry.paid,
            unpaid=entry.unpaid,
            difference=entry.assessed - estimate.total if estimate is not None else None,
        )
    return CustomsEntryView(
        entry_id=entry.id,
        tracking_number=str(d.tracking_number),
        destination_country=str(d.destination_country),
        status=entry.status,
        hold_reason=entry.hold_reason,
        incoterm=d.incoterm,
        currency=str(d.currency),
        value=d.value,
        lines=d.lines,
        importer_ioss=d.importer_ioss,
        importer_eori=d.importer_eori,
        findings=entry.findings,
        estimate=estimate,
        assessed=assessed,
        events=list(entry.steps),
        amendments=entry.amendments,
        version=entry.version,
        declared_at=entry.declared_at,
        updated_at=entry.modified_on,
    )


def totals(rows: Any) -> list[CustomsTotal]:
    """Totals of (country, status, currency, estimated, assessed) rows."""
    found: dict[tuple[str, str, str], CustomsTotal] = {}
    for country, status, currency, estimated, assessed in rows:
        key = (country, status, currency)
        t = found.get(key)
        if t is None:
            t = found[key] = CustomsTotal(
                country=country, status=status, currency=currency, entries=0,
                estimated=Decimal(0), assessed=Decimal(0), assessed_entries=0,
            )
        t.entries += 1
        if estimated is not None:
            t.estimated += Decimal(estimated)
        if assessed is not None:
            t.assessed += Decimal(assessed)
            t.assessed_entries += 1
    return [found[k] for k in sorted(found)]
