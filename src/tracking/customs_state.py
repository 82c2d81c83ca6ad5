"""A CustomsEntry's state as one value (``CustomsEntryState``, with the
``CustomsStep`` records it keeps), and the two conversions between it and
the aggregate (``tracking.customs``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec

from tracking.compliance import Charges, ChargesEstimate, Finding
from tracking.customs_hold import HoldReason
from tracking.customs_status import CustomsStatus
from tracking.declaration import Declaration
from tracking.scan import Source

if TYPE_CHECKING:
    from tracking.customs import CustomsEntry


class CustomsStep(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One thing customs did, as the entry keeps it."""

    status: CustomsStatus
    occurred_at: datetime
    source: Source
    hold_reason: HoldReason | None = None
    detail: str | None = None
    amount: Decimal | None = None
    charges: Charges | None = None


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


def snapshot(entry: CustomsEntry) -> CustomsEntryState:
    """The entry's state as a value, sharing no list with it."""
    values = {f: getattr(entry, f) for f in _STATE_FIELDS}
    values["steps"] = list(entry.steps)
    return CustomsEntryState(
        id=entry.id, version=entry.version, created_on=entry.created_on, **values
    )


def restore(cls: type[CustomsEntry], state: CustomsEntryState) -> CustomsEntry:
    """The entry of that state, as if its events had been applied."""
    entry = object.__new__(cls)
    entry.__base_init__(state.id, state.version, state.created_on)
    for f in _STATE_FIELDS:
        setattr(entry, f, getattr(state, f))
    entry.steps = list(state.steps)
    return entry
