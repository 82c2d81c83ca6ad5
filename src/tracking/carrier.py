"""What carriers tell us besides scans: estimates of when something will
happen, events we have no code for, and corrections of what they said.

Each is a command value for ``ShipmentService.record_updates`` (beside
``Scan``), carrying its own idempotency key: the source's event id, made
into an id by the adapter that translated it.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from tracking.codes import ScanEvent
from tracking.errors import InvalidInput
from tracking.identifiers import Locode, TrackingNumber
from tracking.limits import check_length
from tracking.route import require_aware
from tracking.scan import Reported, Scan, _check_id
from tracking.validation import validating


class Estimate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A carrier's planned or estimated time for a handling event (DCSA PLN
    and EST): an arrival or discharge estimate at the route's last port
    becomes the shipment's ETA until the arrival is scanned."""

    event: ScanEvent
    location: Locode
    expected_at: datetime
    voyage: str | None = None

    def __post_init__(self) -> None:
        if validating():
            require_aware("expected_at", self.expected_at)

    @property
    def is_arrival(self) -> bool:
        return self.event in (ScanEvent.ARRIVED, ScanEvent.UNLOADED)


class EstimateUpdate(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    estimate_id: str
    tracking_number: TrackingNumber
    estimate: Estimate
    reported: Reported

    def __post_init__(self) -> None:
        if validating():
            _check_id("estimate_id", self.estimate_id)

    @property
    def key(self) -> str:
        return self.estimate_id


class CarrierNote(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An event a carrier reported with a code we have no equivalent for:
    recorded as it was said (never dropped), shown in the history, and
    changing nothing that is derived."""

    note_id: str
    tracking_number: TrackingNumber
    occurred_at: datetime
    reported: Reported
    location: Locode | None = None

    def __post_init__(self) -> None:
        if validating():
            _check_id("note_id", self.note_id)
            require_aware("occurred_at", self.occurred_at)

    @property
    def key(self) -> str:
        return self.note_id


class Retraction(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A carrier declared an event it sent in error (EPCIS errorDeclaration):
    the event ``retracted_id`` stays in the history and derivations ignore it.

    ``declared`` is that event itself, as the carrier sent it with its
    declaration (EPCIS sends the whole event): when the event never reached
    us, it is recorded as said, retracted from the start, so nothing a
    carrier said disappears and nothing derived counts it."""

    retracted_id: str
    tracking_number: TrackingNumber
    declared_at: datetime
    reason: str | None = None
    corrected_by: tuple[str, ...] = ()
    declared: Scan | CarrierNote | None = None

    def __post_init__(self) -> None:
        if not validating():
            return
        _check_id("retracted_id", self.retracted_id)
        require_aware("declared_at", self.declared_at)
        check_length("reason", self.reason)
        d = self.declared
        if d is not None and (
            (d.scan_id if isinstance(d, Scan) else d.note_id) != self.retracted_id
            or d.tracking_number != self.tracking_number
        ):
            raise InvalidInput("declared", f"is not the event {self.retracted_id} of "
                               f"{self.tracking_number} that is declared an error")

    @property
    def key(self) -> str:
        return f"retracts:{self.retracted_id}"


CarrierUpdate = EstimateUpdate | CarrierNote | Retraction
