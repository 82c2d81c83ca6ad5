"""One hierarchy for every error the domain raises on purpose.

The HTTP status each maps to lives in one place in the adapters; here each
class only says when it is raised.
"""

from __future__ import annotations

from datetime import datetime


class TrackingError(Exception):
    """Base class: something the caller asked for cannot be done as asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(TrackingError, ValueError):
    """A value cannot be right (a malformed code, a leg that arrives before it
    departs, an EXCEPTION scan without a reason). ``field`` names the offending
    field, as a dotted path where the value is nested (``route[1].arrives_at``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message

    def within(self, prefix: str) -> InvalidInput:
        """The same error, with its field placed under ``prefix``."""
        return InvalidInput(f"{prefix}.{self.field}", self.reason)


class ShipmentNotFound(TrackingError, LookupError):
    """No shipment is booked under the tracking number (scans for it may be
    waiting, but until it is booked it does not exist for readers)."""

    def __init__(self, tracking_number: str, as_of: datetime | None = None) -> None:
        if as_of is None:
            message = f"no shipment is booked under tracking number {tracking_number}"
        else:  # as_of is recording time, which readers often take for the scans' time
            message = (f"no booking of tracking number {tracking_number} had been recorded "
                       f"by {as_of.isoformat()} (as_of is the time events were recorded, "
                       "not when they happened)")
        super().__init__(message)
        self.tracking_number = tracking_number


class BookingConflict(TrackingError):
    """A booking for a tracking number that is already booked with different
    data, or a change that the shipment's state no longer allows (re-routing a
    delivered shipment)."""


class CustomsConflict(TrackingError):
    """A declaration for a shipment and country whose customs entry already
    holds a different declaration: amend the entry instead."""


class WriteContention(TrackingError):
    """Concurrent writers kept changing the same shipments and the write was
    retried as often as allowed without getting through. Nothing was recorded;
    the caller may safely try again."""
