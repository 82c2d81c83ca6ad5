"""What the application services answer: what became of a write."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

import msgspec

from tracking.compliance import Finding


class ScanResult(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class ScanOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one scan. ``booked`` is False for a scan kept for a
    shipment that is not booked yet (it applies once booked)."""

    scan_id: str
    tracking_number: str
    result: ScanResult
    booked: bool = False
    position: int | None = None
    field: str | None = None
    reason: str | None = None

    @property
    def duplicate(self) -> bool:
        return self.result is ScanResult.DUPLICATE


class WriteResult(msgspec.Struct, frozen=True):
    """``changed`` is False when the command repeated what was already
    recorded; ``position`` is the log position of the last event recorded."""

    changed: bool
    position: int | None = None


class DeclarationResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a declaration (or an amendment) became: ``created`` is False
    when the same declaration was already recorded (or an amendment changed
    nothing). Not the entry's ``CustomsEntry.Declared`` event."""

    entry_id: UUID
    created: bool
    position: int | None
    findings: tuple[Finding, ...]
