"""The Shipment's commands for what carriers send besides scans
(``tracking.carrier``): estimates, notes of codes we have no equivalent
for, and retractions. A part of the aggregate (``tracking.shipment``), kept
apart; the events they trigger are the Shipment's own, and the retractions'
``apply`` comes here."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracking.carrier import CarrierNote, CarrierUpdate, EstimateUpdate, Retraction
from tracking.errors import InvalidInput
from tracking.scan import Scan, Source

if TYPE_CHECKING:
    from tracking.shipment import Shipment


class CarrierUpdates:
    """Mixed into ``Shipment``: every method runs on a Shipment."""

    def answers_to(self, tracking_number: str) -> bool:
        """Its own number, or a later carrier's it was handed over under."""
        return tracking_number == self.tracking_number or tracking_number in self.aliases

    def _check_carrier_update(self, tracking_number: str, key: str) -> bool:
        """False when already recorded; refuses another shipment's update."""
        if not self.answers_to(tracking_number):
            raise InvalidInput(
                "tracking_number", f"{key} is for {tracking_number}, not {self.tracking_number}"
            )
        return key not in self.scan_ids

    def record_estimate(self, update: EstimateUpdate, source: Source) -> bool:
        """Record a carrier's estimate; False when its id is already recorded."""
        if not self._check_carrier_update(update.tracking_number, update.key):
            return False
        self.trigger_event(self.EstimateReceived, estimate_id=update.estimate_id,
                           estimate=update.estimate, reported=update.reported, source=source)
        return True

    def note_carrier_event(self, note: CarrierNote, source: Source) -> bool:
        """Record a carrier event we have no code for; False when already recorded."""
        if not self._check_carrier_update(note.tracking_number, note.key):
            return False
        self.trigger_event(self.CarrierEventNoted, note_id=note.note_id,
                           occurred_at=note.occurred_at, location=note.location,
                           reported=note.reported, source=source)
        return True

    def retract(self, retraction: Retraction, source: Source) -> bool:
        """Retract a recorded scan or note; False when already retracted. An
        event we never recorded is recorded retracted when the retraction
        brings it (``declared``), else refused (InvalidInput)."""
        if not self._check_carrier_update(retraction.tracking_number, retraction.key):
            return False
        declaration: dict[str, Any] = {
            "retracted_id": retraction.retracted_id, "declared_at": retraction.declared_at,
            "reason": retraction.reason, "corrected_by": retraction.corrected_by,
            "source": source,
        }
        if retraction.retracted_id in self.scan_ids:
            self.trigger_event(self.ScanRetracted, **declaration)
            return True
        declared = retraction.declared
        if declared is None:
            raise InvalidInput(
                "retracted_id",
                f"{retraction.retracted_id} is not recorded for {self.tracking_number}",
            )
        self.trigger_event(
            self.RetractedEventRecorded, **declaration,
            scan=declared if isinstance(declared, Scan) else None,
            note=declared if isinstance(declared, CarrierNote) else None,
        )
        return True

    def record_update(self, update: Scan | CarrierUpdate, source: Source, *, now: datetime) -> bool:
        """Record a scan or any carrier update; False when already recorded."""
        if isinstance(update, Scan):
            return self.record_scan(update, source, now=now)
        if isinstance(update, EstimateUpdate):
            return self.record_estimate(update, source)
        if isinstance(update, CarrierNote):
            return self.note_carrier_event(update, source)
        return self.retract(update, source)

    # -- what the retractions' events apply (the Shipment's ScanRetracted and
    # RetractedEventRecorded) -------------------------------------------------

    def apply_retraction(self: Shipment, retracted_id: str) -> None:
        """The recorded scan ``retracted_id`` stops counting."""
        key = f"retracts:{retracted_id}"
        self.other_ids.append(key)
        self.scan_ids.add(key)
        for i, scan in enumerate(self.scans):
            if scan.scan_id == retracted_id:
                self.retracted.append(self.scans.pop(i))
                self.derivation = None  # derive again without it
                self.after_end.discard(scan.scan_id)
                if not self.has_ended():
                    # The end it had reached never was: what came after counts.
                    self.after_end.clear()
                break

    def apply_retracted_event(self: Shipment, retracted_id: str, scan: Scan | None) -> None:
        """An event never recorded before, recorded retracted: a scan (kept
        among the retracted) or a note."""
        key = f"retracts:{retracted_id}"
        self.other_ids.append(key)
        self.scan_ids.update((key, retracted_id))
        if scan is not None:
            self.retracted.append(scan)
            if scan.new_tracking_number is not None:
                self.aliases.add(scan.new_tracking_number)  # as a retracted scan's
        else:
            self.other_ids.append(retracted_id)
