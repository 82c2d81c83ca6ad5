"""The CustomsEntry aggregate: one shipment's declaration to one country's
customs, and what customs did with it.

Declared with its compliance findings and estimate, then lodged, accepted,
held, assessed, paid, released (or rejected, seized, returned). A transition
that makes no sense (released before it was lodged, paid twice) is refused
with the reason; the same report twice changes nothing. Amendments are new
events: the declaration as first made stays in the history.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate

from tracking import customs_state, duties
from tracking.compliance import Charges, ChargesEstimate, Finding
from tracking.customs_hold import MAX_DETAIL, HoldReason, hold_and_text
from tracking.customs_mark import CustomsMark
from tracking.customs_state import CustomsEntryState, CustomsStep
from tracking.customs_status import ALLOWED_FROM, CustomsStatus, InvalidTransition
from tracking.declaration import Declaration
from tracking.errors import InvalidInput, TrackingError
from tracking.occurred import WHEN_RECORDED
from tracking.identifiers import CountryCode, TrackingNumber
from tracking.limits import not_ahead
from tracking.route import require_aware
from tracking.scan import Source

# Statuses, holds, marks, the state value and the duty rules are in their own
# modules (tracking.customs_status, customs_hold, customs_mark, customs_state,
# duties); importable from here too, where their users import them.
__all__ = [
    "ALLOWED_FROM", "MAX_DETAIL", "CustomsEntry", "CustomsEntryNotFound", "CustomsEntryState",
    "CustomsMark", "CustomsStatus", "CustomsStep", "HoldReason", "InvalidTransition",
    "customs_entry_id",
]


class CustomsEntryNotFound(TrackingError, LookupError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"no customs entry {entry_id}")
        self.entry_id = entry_id


_ENTRY_NAMESPACE = uuid.UUID("0f3c8a52-7d1e-4b8e-9e57-4a2d9c6b1e11")


def customs_entry_id(tracking_number: str, destination_country: str) -> uuid.UUID:
    """One entry per shipment and country of import, found without an index."""
    return uuid.uuid5(_ENTRY_NAMESPACE, f"{tracking_number}/{destination_country}")


class CustomsEntry(Aggregate):
    class Declared(Aggregate.Created):
        declaration: Declaration
        findings: tuple[Finding, ...]
        estimate: ChargesEstimate | None
        declared_at: datetime
        source: Source

        @property
        def occurred_at(self) -> datetime:
            """When it happened: when it was declared."""
            return self.declared_at

    class Amended(Aggregate.Event):
        """A new declaration replaces the one in force; the old one stays in
        the history."""

        declaration: Declaration
        findings: tuple[Finding, ...]
        estimate: ChargesEstimate | None
        source: Source

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            e: CustomsEntry = aggregate
            e.declaration, e.findings, e.estimate = self.declaration, self.findings, self.estimate
            e.amendments += 1

    class Moved(Aggregate.Event):
        """Customs did something with the entry (one subclass per status)."""

        STATUS = CustomsStatus.DECLARED  # each subclass says which
        occurred_at: datetime
        detail: str | None
        source: Source

        def step(self) -> CustomsStep:
            return CustomsStep(
                status=self.STATUS, occurred_at=self.occurred_at, source=self.source,
                detail=self.detail,
            )

        def apply(self, aggregate: Any) -> None:
            e: CustomsEntry = aggregate
            step = self.step()
            e.steps.append(step)
            e.status = step.status
            e.hold_reason = step.hold_reason

    class Lodged(Moved):
        STATUS = CustomsStatus.LODGED

    class Accepted(Moved):
        STATUS = CustomsStatus.ACCEPTED

    class Held(Moved):
        STATUS = CustomsStatus.HELD
        reason: HoldReason

        def step(self) -> CustomsStep:
            return msgspec.structs.replace(super().step(), hold_reason=self.reason)

    class DutiesAssessed(Moved):
        STATUS = CustomsStatus.DUTIES_ASSESSED
        amount: Decimal
        charges: Charges | None

        def step(self) -> CustomsStep:
            return msgspec.structs.replace(super().step(), amount=self.amount, charges=self.charges)

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.assessed = self.amount
            aggregate.assessed_charges = self.charges

    class DutiesPaid(Moved):
        STATUS = CustomsStatus.DUTIES_PAID
        amount: Decimal

        def step(self) -> CustomsStep:
            return msgspec.structs.replace(super().step(), amount=self.amount)

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.paid = self.amount

    class Released(Moved):
        STATUS = CustomsStatus.RELEASED

    class Rejected(Moved):
        STATUS = CustomsStatus.REJECTED

    class Seized(Moved):
        STATUS = CustomsStatus.SEIZED

    class Returned(Moved):
        STATUS = CustomsStatus.RETURNED

    def __init__(
        self,
        declaration: Declaration,
        findings: tuple[Finding, ...],
        estimate: ChargesEstimate | None,
        declared_at: datetime,
        source: Source,
    ) -> None:
        self.declaration = declaration
        self.declared_at = declared_at
        self.findings = findings
        self.estimate = estimate
        self.declared_by = source
        self.status = CustomsStatus.DECLARED
        self.steps: list[CustomsStep] = []
        self.hold_reason: HoldReason | None = None
        self.assessed: Decimal | None = None
        self.assessed_charges: Charges | None = None
        self.paid: Decimal | None = None
        self.amendments = 0

    @staticmethod
    def create_id(declaration: Declaration, **_: Any) -> uuid.UUID:
        return customs_entry_id(declaration.tracking_number, declaration.destination_country)

    @classmethod
    def declare(
        cls,
        declaration: Declaration,
        findings: tuple[Finding, ...],
        estimate: ChargesEstimate | None,
        source: Source,
        *,
        at: datetime,
    ) -> CustomsEntry:
        require_aware("declared_at", at)
        return cls._create(
            cls.Declared, declaration=declaration, findings=findings, estimate=estimate,
            declared_at=at, source=source,
        )
    def state(self) -> CustomsEntryState:
        return customs_state.snapshot(self)

    @classmethod
    def from_state(cls, state: CustomsEntryState) -> CustomsEntry:
        return customs_state.restore(cls, state)

    # -- queries -----------------------------------------------------------------

    @property
    def tracking_number(self) -> TrackingNumber:
        return self.declaration.tracking_number

    @property
    def country(self) -> CountryCode:
        return self.declaration.destination_country

    def mark(self) -> CustomsMark:
        """The entry as its shipment records it now."""
        last = self.steps[-1] if self.steps else None
        return CustomsMark(
            entry_id=self.id,
            entry_version=self.version,
            country=self.country,
            status=self.status,
            occurred_at=last.occurred_at if last else self.declared_at,
            hold_reason=last.hold_reason if last else None,
            detail=last.detail if last else None,
        )

    @property
    def unpaid(self) -> Decimal:
        """Duties and taxes assessed and not yet paid."""
        if self.assessed is None:
            return Decimal(0)
        return max(self.assessed - (self.paid or Decimal(0)), Decimal(0))

    # -- commands ----------------------------------------------------------------

    def amend(
        self, declaration: Declaration, findings: tuple[Finding, ...],
        estimate: ChargesEstimate | None, source: Source,
    ) -> bool:
        """Replace the declaration; False when it is the one in force."""
        if declaration == self.declaration:
            return False
        if self.status.is_final:
            raise InvalidTransition(
                f"customs entry {self.id} is {self.status.value}: its declaration can no "
                "longer be amended"
            )
        for field in ("tracking_number", "destination_country"):
            if getattr(declaration, field) != getattr(self.declaration, field):
                raise InvalidInput(
                    field,
                    f"an amendment cannot change the entry's {field} "
                    f"({getattr(self.declaration, field)}); declare a new entry",
                )
        self.trigger_event(
            self.Amended, declaration=declaration, findings=findings, estimate=estimate,
            source=source,
        )
        return True

    def progress(
        self,
        status: CustomsStatus,
        *,
        occurred_at: datetime,
        source: Source,
        now: datetime,
        reason: str | None = None,
        detail: str | None = None,
        amount: Decimal | None = None,
        charges: Charges | None = None,
    ) -> bool:
        """Record what customs did. False when the same report is already
        recorded; InvalidTransition when the entry's state does not allow it.
        A hold's ``reason`` is a HoldReason's name in any case, or the
        customs system's own words (an OTHER hold with that text); for other
        events it is text."""
        require_aware("occurred_at", occurred_at)
        not_ahead("occurred_at", occurred_at, now)
        if status is CustomsStatus.DECLARED:
            raise InvalidInput("event", "DECLARED is what creating the entry records")
        hold, text = hold_and_text(status, reason, detail)
        if any(
            done.status is status
            and done.occurred_at == occurred_at
            and done.hold_reason == hold
            and done.detail == text
            and (amount is None or amount == done.amount)
            and (charges is None or charges == done.charges)
            for done in self.steps
        ):
            return False  # the same report again, whoever sent it
        self._check_transition(status)
        fields: dict[str, Any] = {"detail": text}
        if status is CustomsStatus.HELD:
            fields["reason"] = hold
        if status is CustomsStatus.DUTIES_ASSESSED:
            fields["amount"], fields["charges"] = duties.assessed(amount, charges)
        elif status is CustomsStatus.DUTIES_PAID:
            if charges is not None:
                raise InvalidInput("charges", "charges are assessed, not paid: send the amount")
            fields["amount"] = duties.paid(amount, self.unpaid)
        elif amount is not None or charges is not None:
            raise InvalidInput("amount", f"a {status.value} event carries no amount")
        self.trigger_event(_EVENT_CLASS[status], occurred_at=occurred_at, source=source, **fields)
        return True

    def _check_transition(self, to: CustomsStatus) -> None:
        now = self.status
        if now not in ALLOWED_FROM[to]:
            if now.is_final:
                why = f"it is already {now.value}"
            elif to is now is CustomsStatus.DUTIES_PAID:
                why = "its duties are already paid"
            elif now is CustomsStatus.DECLARED:
                why = "it has not been lodged"
            else:
                why = f"it is {now.value}"
            raise InvalidTransition(f"customs entry {self.id} cannot become {to.value}: {why}")
        if to is CustomsStatus.DUTIES_PAID and self.unpaid == 0:
            raise InvalidTransition(
                f"customs entry {self.id} cannot become DUTIES_PAID: "
                + ("no duties are assessed" if self.assessed is None else "its duties are paid")
            )
        if to is CustomsStatus.DUTIES_ASSESSED and self.paid is not None:
            raise InvalidTransition(
                f"customs entry {self.id} cannot be assessed again: its duties are paid"
            )
        if to is CustomsStatus.RELEASED and self.unpaid > 0:
            raise InvalidTransition(
                f"customs entry {self.id} cannot be RELEASED: {self.declaration.currency} "
                f"{self.unpaid} of assessed duties are not paid"
            )


_EVENT_CLASS: dict[CustomsStatus, type[CustomsEntry.Moved]] = {
    CustomsStatus.LODGED: CustomsEntry.Lodged,
    CustomsStatus.ACCEPTED: CustomsEntry.Accepted,
    CustomsStatus.HELD: CustomsEntry.Held,
    CustomsStatus.DUTIES_ASSESSED: CustomsEntry.DutiesAssessed,
    CustomsStatus.DUTIES_PAID: CustomsEntry.DutiesPaid,
    CustomsStatus.RELEASED: CustomsEntry.Released,
    CustomsStatus.REJECTED: CustomsEntry.Rejected,
    CustomsStatus.SEIZED: CustomsEntry.Seized,
    CustomsStatus.RETURNED: CustomsEntry.Returned,
}
