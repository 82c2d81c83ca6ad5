"""The customs read model: each customs entry as merchants, carriers and
agents read it (declaration, findings, duties estimated and assessed, what
customs did), and totals by country, status and currency, from the customs
entries' events."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod

from projections.readmodel import BatchProjection, MemoryView, ReadModel, View
from projections.sql import SqlView, Writer, upsert
from tracking.compliance import Charges, ChargesEstimate, Finding
from tracking.customs import CustomsEntry, CustomsEntryState, CustomsStatus, CustomsStep, HoldReason
from tracking.declaration import DeclarationLine, Incoterm
from tracking.mapper import enc_hook
from tracking.validation import RecordedDecoder

_encoder = msgspec.json.Encoder(enc_hook=enc_hook)


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


_projected_entry: RecordedDecoder[ProjectedEntry] = RecordedDecoder(ProjectedEntry)


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
        e: ChargesEstimate = entry.estimate
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


class CustomsProjection(BatchProjection["CustomsView"]):
    def begin(self, events: Sequence[Any], *, fresh: bool) -> None:
        ids = [] if fresh else list({e.originator_id for e in events
                                     if isinstance(e, CustomsEntry.Event)})
        self._entries: dict[UUID, tuple[CustomsEntry, int]] = {
            eid: (_restore(doc), 0) for eid, doc in self.view.projected(ids).items()
        }
        self._touched: set[UUID] = set()

    @singledispatchmethod
    def process_event(self, event: Any, position: int) -> None:
        """Another aggregate's event: not this read model's concern."""

    @process_event.register
    def _entry_event(self, event: CustomsEntry.Event, position: int) -> None:
        found = self._entries.get(event.originator_id)
        if found is not None and event.originator_version <= found[0].version:
            return  # already applied
        entry: Any = event.mutate(found[0] if found else None)
        self._entries[entry.id] = (entry, position)
        self._touched.add(entry.id)

    def changes(self) -> list[CustomsRow]:
        return [_row(*self._entries[eid]) for eid in self._touched]


def _restore(doc: bytes) -> CustomsEntry:
    return CustomsEntry.from_state(_projected_entry.decode(doc).state)


def _row(entry: CustomsEntry, position: int) -> CustomsRow:
    estimate = entry.estimate
    return CustomsRow(
        entry_id=entry.id,
        tracking_number=str(entry.tracking_number),
        country=str(entry.country),
        status=entry.status.value,
        currency=str(entry.declaration.currency),
        estimated=estimate.charges.total if estimate is not None else None,
        assessed=entry.assessed,
        declared_at=entry.declared_at,
        updated_at=entry.modified_on,
        position=position,
        projected=_encoder.encode(ProjectedEntry(state=entry.state())),
        view=_encoder.encode(customs_view(entry)),
    )


class CustomsView(View[Sequence[CustomsRow]]):
    @abstractmethod
    def projected(self, entry_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """The projection's state of each of these entries it has seen."""

    @abstractmethod
    def entry(self, entry_id: UUID) -> bytes | None:
        """The entry's view document."""

    @abstractmethod
    def entries(
        self, *, status: str | None, country: str | None, tracking_number: str | None,
        limit: int, offset: int,
    ) -> list[bytes]:
        """View documents of the entries that match, most recently updated first."""

    @abstractmethod
    def _amounts(self) -> list[tuple[str, str, str, Any, Any]]:
        """(country, status, currency, estimated, assessed) of every entry."""

    def totals(self) -> list[CustomsTotal]:
        """Entries and duties by country, status and currency."""
        return totals(self._amounts())


class MemoryCustomsView(MemoryView[Sequence[CustomsRow]], CustomsView):
    def _clear(self) -> None:
        self._rows: dict[UUID, CustomsRow] = {}

    def _write(self, changes: Sequence[CustomsRow]) -> None:
        for row in changes:
            self._rows[row.entry_id] = row

    def projected(self, entry_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        with self._lock:
            return {i: self._rows[i].projected for i in entry_ids if i in self._rows}

    def entry(self, entry_id: UUID) -> bytes | None:
        row = self._rows.get(entry_id)
        return row.view if row else None

    def entries(
        self, *, status: str | None, country: str | None, tracking_number: str | None,
        limit: int, offset: int,
    ) -> list[bytes]:
        with self._lock:
            found = [
                r for r in self._rows.values()
                if (status is None or r.status == status)
                and (country is None or r.country == country)
                and (tracking_number is None or r.tracking_number == tracking_number)
            ]
        found.sort(key=lambda r: (r.updated_at, r.entry_id), reverse=True)
        return [r.view for r in found[offset : offset + limit]]

    def _amounts(self) -> list[tuple[str, str, str, Any, Any]]:
        with self._lock:
            return [(r.country, r.status, r.currency, r.estimated, r.assessed)
                    for r in self._rows.values()]


_COLUMNS = ("entry_id", "tracking_number", "country", "status", "currency", "estimated",
            "assessed", "declared_at", "updated_at", "position", "projected", "view")
_UPSERT = upsert("customs_entries", _COLUMNS, ("status", "estimated", "assessed", "updated_at",
                                                  "position", "projected", "view"))


class SqlCustomsView(SqlView[Sequence[CustomsRow]], CustomsView):
    tables = {"customs_entries": (
        "entry_id {uuid} PRIMARY KEY, tracking_number {text} NOT NULL, country {text} NOT NULL, "
        "status {text} NOT NULL, currency {text} NOT NULL, estimated {amount}, assessed {amount}, "
        "declared_at {time} NOT NULL, updated_at {time} NOT NULL, position {int} NOT NULL, "
        "projected {bytes} NOT NULL, view {bytes} NOT NULL"
    )}
    indexes = ("CREATE INDEX IF NOT EXISTS customs_entries_by_number "
               "ON customs_entries (tracking_number)",)

    def _write(self, w: Writer, changes: Sequence[CustomsRow]) -> None:
        db = self.db
        w.executemany(_UPSERT, [
            (db.key(r.entry_id), r.tracking_number, r.country, r.status, r.currency,
             db.amount(r.estimated), db.amount(r.assessed), db.time(r.declared_at),
             db.time(r.updated_at), r.position, r.projected, r.view)
            for r in changes
        ])

    def projected(self, entry_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        if not entry_ids:
            return {}
        rows = self.db.select_keys(
            "SELECT entry_id, projected FROM customs_entries WHERE entry_id {keys}", entry_ids)
        return {self.db.read_key(eid): doc for eid, doc in rows}

    def entry(self, entry_id: UUID) -> bytes | None:
        found = self.db.query_one("SELECT view FROM customs_entries WHERE entry_id = ?",
                                  (self.db.key(entry_id),))
        return found[0] if found else None

    def entries(
        self, *, status: str | None, country: str | None, tracking_number: str | None,
        limit: int, offset: int,
    ) -> list[bytes]:
        wanted = {"status": status, "country": country, "tracking_number": tracking_number}
        clauses = [f"{column} = ?" for column, value in wanted.items() if value is not None]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.query(
            f"SELECT view FROM customs_entries{where} "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            "ORDER BY updated_at DESC, entry_id DESC LIMIT ? OFFSET ?",
            [*(v for v in wanted.values() if v is not None), limit, offset],
        )
        return [r[0] for r in rows]

    def _amounts(self) -> list[tuple[str, str, str, Any, Any]]:
        return self.db.query(
            "SELECT country, status, currency, estimated, assessed FROM customs_entries")  # type: ignore[return-value]


READ_MODEL = ReadModel("customs", CustomsProjection, memory=MemoryCustomsView,
                       sql=SqlCustomsView)
