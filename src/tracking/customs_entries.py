"""The customs entries' application service: declare a shipment's goods,
amend the declaration, record what customs did; each write tells the
entry's shipment too, in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from tracking.compliance import Charges, CheckResult, check
from tracking.customs import CustomsEntry, CustomsEntryNotFound, CustomsStatus, customs_entry_id
from tracking.declaration import Declaration
from tracking.errors import CustomsConflict, ShipmentNotFound
from tracking.identifiers import shipment_id
from tracking.nomenclature import Nomenclature
from tracking.outcomes import DeclarationResult, WriteResult
from tracking.scan import Source
from tracking.shipment import Shipment
from tracking.tariff import CustomsRules
from tracking.unitofwork import AggregateStore, UnitOfWork, last_position

Clock = Callable[[], datetime]


class CustomsEntries:
    def __init__(
        self,
        store: AggregateStore,
        clock: Clock,
        rules: CustomsRules,
        nomenclature: Nomenclature | None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rules = rules
        self.nomenclature = nomenclature

    def declare(self, declaration: Declaration, source: Source) -> DeclarationResult:
        """Declare a booked shipment's goods to its destination's customs,
        with the compliance findings and the estimate of the rules in force
        today. The same declaration again changes nothing; a different one for
        the same shipment and country raises CustomsConflict (amend instead)."""
        sid = shipment_id(declaration.tracking_number)
        eid = customs_entry_id(declaration.tracking_number, declaration.destination_country)
        now = self.clock()

        def command(unit: UnitOfWork) -> DeclarationResult:
            shipment = unit.get(sid, Shipment)
            if shipment is None or not shipment.is_booked:
                raise ShipmentNotFound(declaration.tracking_number)
            entry = unit.get(eid, CustomsEntry)
            if entry is not None:
                if entry.declaration != declaration:
                    raise CustomsConflict(
                        f"customs entry {eid} for {declaration.tracking_number} into "
                        f"{declaration.destination_country} holds a different declaration; "
                        "amend it instead"
                    )
                return DeclarationResult(entry_id=eid, created=False, position=None,
                                         findings=entry.findings)
            result = self._check(declaration, shipment, now)
            entry = CustomsEntry.declare(
                declaration, result.findings, result.estimate, source, at=now
            )
            shipment.note_customs(entry.mark(), source)
            unit.changed(entry, shipment)
            return DeclarationResult(entry_id=eid, created=True, position=None,
                                     findings=result.findings)

        recordings, declared = self.store.write([sid, eid], command)
        return msgspec.structs.replace(declared, position=last_position(recordings))

    def amend(self, entry_id: UUID, declaration: Declaration, source: Source) -> DeclarationResult:
        """Replace an entry's declaration (re-checked against today's rules)."""
        now = self.clock()
        sid = self._shipment_of(entry_id)

        def command(unit: UnitOfWork) -> DeclarationResult:
            entry = _entry(unit, entry_id)
            result = self._check(declaration, unit.get(sid, Shipment), now)
            changed = entry.amend(declaration, result.findings, result.estimate, source)
            if changed:
                unit.changed(entry)
            return DeclarationResult(entry_id=entry_id, created=changed, position=None,
                                     findings=entry.findings)

        recordings, declared = self.store.write([entry_id, sid], command)
        return msgspec.structs.replace(declared, position=last_position(recordings))

    def record_customs_event(
        self,
        entry_id: UUID,
        status: CustomsStatus,
        *,
        occurred_at: datetime,
        source: Source,
        reason: str | None = None,
        detail: str | None = None,
        amount: Any = None,
        charges: Charges | None = None,
    ) -> WriteResult:
        """Record what customs did with an entry, and let its shipment know."""
        now = self.clock()
        # An entry's shipment never changes: find it first, then write both.
        sid = self._shipment_of(entry_id)

        def command(unit: UnitOfWork) -> bool:
            entry = _entry(unit, entry_id)
            changed = entry.progress(
                status, occurred_at=occurred_at, source=source, now=now, reason=reason,
                detail=detail, amount=amount, charges=charges,
            )
            if not changed:
                return False
            shipment = unit.get(sid, Shipment)
            if shipment is None:
                raise ShipmentNotFound(entry.tracking_number)
            shipment.note_customs(entry.mark(), source)
            unit.changed(entry, shipment)
            return True

        recordings, changed = self.store.write([entry_id, sid], command)
        return WriteResult(changed, last_position(recordings))

    def customs_entry(self, entry_id: UUID) -> CustomsEntry:
        """The entry as it is now (for commands and the audit trail; readers
        use the customs view)."""
        with self.store.lock:
            entry = self.store.get(entry_id, CustomsEntry)
            if entry is None:
                raise CustomsEntryNotFound(str(entry_id))
            return deepcopy(entry)

    def _shipment_of(self, entry_id: UUID) -> UUID:
        """The id of the entry's shipment (which never changes, so a cached
        entry answers as well as a fresh one)."""
        entry = self.store.get(entry_id, CustomsEntry, fresh=False)
        if entry is None:
            raise CustomsEntryNotFound(str(entry_id))
        return shipment_id(entry.tracking_number)

    def _check(
        self, declaration: Declaration, shipment: Shipment | None, now: datetime
    ) -> CheckResult:
        return check(
            declaration,
            self.rules,
            on=now.astimezone(UTC).date(),
            nomenclature=self.nomenclature,
            shipment_destination=(
                shipment.destination.country if shipment is not None and shipment.is_booked
                else None
            ),
        )


def _entry(unit: UnitOfWork, entry_id: UUID) -> CustomsEntry:
    entry = unit.get(entry_id, CustomsEntry)
    if entry is None:
        raise CustomsEntryNotFound(str(entry_id))
    return entry
