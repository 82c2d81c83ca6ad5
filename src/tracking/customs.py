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
from enum import StrEnum
from typing import Any

import msgspec
from eventsourcing.domain import Aggregate

from tracking.compliance import Charges, ChargesEstimate, Finding
from tracking.declaration import Declaration
from tracking.errors import InvalidInput, TrackingError
from tracking.occurred import WHEN_RECORDED
from tracking.identifiers import CountryCode, TrackingNumber
from tracking.limits import MAX_FREE_TEXT, not_ahead
from tracking.route import require_aware
from tracking.scan import Source

MAX_DETAIL = MAX_FREE_TEXT  # what customs said of an entry, kept as said


class CustomsStatus(StrEnum):
    DECLARED = "DECLARED"
    LODGED = "LODGED"
    ACCEPTED = "ACCEPTED"
    HELD = "HELD"
    DUTIES_ASSESSED = "DUTIES_ASSESSED"
    DUTIES_PAID = "DUTIES_PAID"
    RELEASED = "RELEASED"
    REJECTED = "REJECTED"
    SEIZED = "SEIZED"
    RETURNED = "RETURNED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    @property
    def with_customs(self) -> bool:
        """Lodged and not yet released or finished: the goods are in customs' hands."""
        return self not in _FINAL and self is not CustomsStatus.DECLARED


_FINAL = frozenset({CustomsStatus.RELEASED, CustomsStatus.SEIZED, CustomsStatus.RETURNED})


class HoldReason(StrEnum):
    DOCUMENTS = "DOCUMENTS"
    INSPECTION = "INSPECTION"
    PAYMENT = "PAYMENT"
    PROHIBITED_GOODS = "PROHIBITED_GOODS"
    OTHER = "OTHER"

    @classmethod
    def parse(cls, text: str) -> HoldReason:
        """The code a customs system's reason names, whatever its case;
        OTHER for any other words (which the hold keeps as its text)."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            return cls.OTHER


S = CustomsStatus
# For each status an entry can move to, the statuses it can move from.
ALLOWED_FROM: dict[CustomsStatus, frozenset[CustomsStatus]] = {
    S.LODGED: frozenset({S.DECLARED, S.REJECTED}),
    S.ACCEPTED: frozenset({S.LODGED, S.HELD}),
    S.HELD: frozenset({S.LODGED, S.ACCEPTED, S.HELD, S.DUTIES_ASSESSED, S.DUTIES_PAID}),
    S.DUTIES_ASSESSED: frozenset({S.LODGED, S.ACCEPTED, S.HELD, S.DUTIES_ASSESSED}),
    S.DUTIES_PAID: frozenset({S.DUTIES_ASSESSED, S.HELD}),
    S.RELEASED: frozenset({S.LODGED, S.ACCEPTED, S.HELD, S.DUTIES_ASSESSED, S.DUTIES_PAID}),
    S.REJECTED: frozenset({S.LODGED, S.ACCEPTED, S.HELD}),
    S.SEIZED: frozenset({S.LODGED, S.ACCEPTED, S.HELD, S.DUTIES_ASSESSED, S.DUTIES_PAID, S.REJECTED}),
    S.RETURNED: frozenset({S.LODGED, S.ACCEPTED, S.HELD, S.DUTIES_ASSESSED, S.DUTIES_PAID, S.REJECTED}),
}
del S


class InvalidTransition(TrackingError):
    """A customs event that the entry's state does not allow (released before
    it was lodged, duties paid twice). Nothing was recorded."""


class CustomsEntryNotFound(TrackingError, LookupError):
    def __init__(self, entry_id: str) -> None:
        super().__init__(f"no customs entry {entry_id}")
        self.entry_id = entry_id


class CustomsStep(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One thing customs did, as the entry keeps it."""

    status: CustomsStatus
    occurred_at: datetime
    source: Source
    hold_reason: HoldReason | None = None
    detail: str | None = None
    amount: Decimal | None = None
    charges: Charges | None = None



class CustomsMark(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """What a shipment knows of one of its customs entries after an event:
    enough to derive its status and exceptions without loading the entry."""

    entry_id: uuid.UUID
    # Reports may be dated out of order; the entry's latest is the one in force.
    entry_version: int
    country: CountryCode
    status: CustomsStatus
    occurred_at: datetime
    hold_reason: HoldReason | None = None
    detail: str | None = None

    def describe(self) -> str:
        what = {
            CustomsStatus.DECLARED: "declared to", CustomsStatus.LODGED: "lodged with",
            CustomsStatus.ACCEPTED: "accepted by", CustomsStatus.HELD: "held by",
            CustomsStatus.DUTIES_ASSESSED: "duties assessed by",
            CustomsStatus.DUTIES_PAID: "duties paid to", CustomsStatus.RELEASED: "released by",
            CustomsStatus.REJECTED: "declaration rejected by",
            CustomsStatus.SEIZED: "seized by", CustomsStatus.RETURNED: "returned by",
        }[self.status]
        why = ", ".join(str(t) for t in (self.hold_reason, self.detail) if t)
        return f"{what} {self.country} customs" + (f" ({why})" if why else "")


_ENTRY_NAMESPACE = uuid.UUID("0f3c8a52-7d1e-4b8e-9e57-4a2d9c6b1e11")


def customs_entry_id(tracking_number: str, destination_country: str) -> uuid.UUID:
    """One entry per shipment and country of import, found without an index."""
    return uuid.uuid5(_ENTRY_NAMESPACE, f"{tracking_number}/{destination_country}")


class CustomsEntryState(msgspec.Struct, kw_only=True):
    """Everything a CustomsEntry holds, as one value (for the customs view's replica)."""

    id: uuid.UUID
    version: int
    created_on: datetime
    modified_on: datetime
    declaration: Declaration
    findings: tuple[Finding, ...]
    estimate: ChargesEstimate | None
    declared_at: datetime
    declared_by: Source
    status: CustomsStatus
    steps: list[CustomsStep]
    hold_reason: HoldReason | None
    assessed: Decimal | None
    assessed_charges: Charges | None
    paid: Decimal | None
    amendments: int


_STATE_FIELDS = tuple(
    f for f in CustomsEntryState.__struct_fields__ if f not in ("id", "version", "created_on")
)


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
        values = {f: getattr(self, f) for f in _STATE_FIELDS}
        values["steps"] = list(self.steps)
        return CustomsEntryState(
            id=self.id, version=self.version, created_on=self.created_on, **values
        )

    @classmethod
    def from_state(cls, state: CustomsEntryState) -> CustomsEntry:
        entry = object.__new__(cls)
        entry.__base_init__(state.id, state.version, state.created_on)
        for f in _STATE_FIELDS:
            setattr(entry, f, getattr(state, f))
        entry.steps = list(state.steps)
        return entry

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
        hold, text = _reasons(status, reason, detail)
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
            fields["amount"], fields["charges"] = _assessed(amount, charges)
        elif status is CustomsStatus.DUTIES_PAID:
            if charges is not None:
                raise InvalidInput("charges", "charges are assessed, not paid: send the amount")
            fields["amount"] = _paid(amount, self.unpaid)
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


def _reasons(
    status: CustomsStatus, reason: str | None, detail: str | None
) -> tuple[HoldReason | None, str | None]:
    """The hold reason (for a hold) and the text kept with the event.

    A hold is never refused for its wording: customs systems say why in
    their own words ("inspection", "Documentary check required"). A known
    code matches whatever its case; any other text is an OTHER hold whose
    text is kept as said, before the detail."""
    hold = None
    texts = [("reason", reason), ("detail", detail)]
    if status is CustomsStatus.HELD:
        if reason is None or not reason.strip():
            raise InvalidInput("reason", f"a hold needs a reason: one of {', '.join(HoldReason)}, "
                               "or the customs system's own words")
        hold = HoldReason.parse(reason)
        if hold is not HoldReason.OTHER or reason.strip().upper() == HoldReason.OTHER:
            texts = [("detail", detail)]  # the code says it all
    kept = []
    for field, text in texts:
        if text is None:
            continue
        flat = " ".join(text.split())  # a line break is layout, not wording
        if not flat or len(flat) > MAX_DETAIL or not flat.isprintable():
            raise InvalidInput(field, f"must be 1 to {MAX_DETAIL} printable characters")
        kept.append(flat)
    return hold, ": ".join(kept) or None


def _assessed(amount: Decimal | None, charges: Charges | None) -> tuple[Decimal, Charges | None]:
    if charges is not None:
        for name in ("duty", "vat", "fees"):
            if getattr(charges, name) < 0:
                raise InvalidInput(f"charges.{name}", "must not be negative")
        if amount is not None and amount != charges.total:
            raise InvalidInput(
                "amount", f"{amount} is not the sum of the charges ({charges.total})"
            )
        return charges.total, charges
    if amount is None:
        raise InvalidInput("amount", "an assessment needs the amount (or the charges)")
    if amount < 0:
        raise InvalidInput("amount", "must not be negative")
    return amount, None


def _paid(amount: Decimal | None, unpaid: Decimal) -> Decimal:
    if amount is None:
        return unpaid
    if amount != unpaid:
        raise InvalidInput("amount", f"{amount} is not the {unpaid} assessed and unpaid")
    return amount


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
