"""The Shipment aggregate: one parcel under one tracking number.

A shipment's stream opens with the first thing we hear of it: its booking,
or a scan that came before the booking (kept, and applied once booked).
Commands validate before any event is triggered; ``apply`` methods only set
state from the event's own data.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate

from tracking.booking import Booking
from tracking.customs import CustomsMark
from tracking.delivery import Delivery, Derivation
from tracking.errors import BookingConflict, InvalidInput, ShipmentNotFound
from tracking.identifiers import Locode, TrackingNumber, shipment_id
from tracking.route import Route, RoutePlan
from tracking.scan import Scan, Source

# How far after it was recorded a scan may say it happened: scanner clocks
# drift, but a scan dated days ahead is a broken clock, not a fact.
FUTURE_TOLERANCE = timedelta(hours=24)


class ShipmentState(msgspec.Struct, kw_only=True):
    """Everything a Shipment holds, as one value: what a read model keeps to
    go on applying events without replaying the stream."""

    id: UUID
    version: int
    created_on: datetime
    modified_on: datetime
    tracking_number: TrackingNumber
    opened_by: Source
    booking: Booking | None
    booked_route: Route | None
    booked_at: datetime | None
    plans: list[RoutePlan]
    scans: list[Scan]
    stalled_since: datetime | None
    last_activity_at: datetime
    customs: list[CustomsMark] = []


class Shipment(Aggregate):
    class Opened(Aggregate.Created):
        """The first word of this tracking number reached us."""

        tracking_number: TrackingNumber
        source: Source

    class Booked(Aggregate.Event):
        booking: Booking
        route: Route
        source: Source

        def apply(self, aggregate: Any) -> None:
            s: Shipment = aggregate
            s.booking = self.booking
            s.booked_route = self.route
            s.plans.append(RoutePlan(self.booking.destination, self.route))
            s.derivation = None
            s.booked_at = self.timestamp
            s.last_activity_at = max(s.last_activity_at, self.timestamp)

    class Rerouted(Aggregate.Event):
        destination: Locode
        route: Route
        effective_at: datetime
        source: Source

        def apply(self, aggregate: Any) -> None:
            aggregate.plans.append(RoutePlan(self.destination, self.route, self.effective_at))
            aggregate.derivation = None

    class ScanRecorded(Aggregate.Event):
        scan: Scan
        source: Source

        def apply(self, aggregate: Any) -> None:
            s: Shipment = aggregate
            s.scan_ids.add(self.scan.scan_id)
            # Keep scans in occurred_at order; equal times stay in recorded order.
            at = bisect.bisect_right(s.scans, self.scan.occurred_at, key=_occurred_at)
            s.scans.insert(at, self.scan)
            if at < len(s.scans) - 1:
                s.derivation = None  # an earlier scan came late: derive again from the start
            s.stalled_since = None
            s.last_activity_at = max(s.last_activity_at, self.timestamp)

    class CustomsUpdated(Aggregate.Event):
        """One of the shipment's customs entries moved on (declared, lodged,
        held, released ...): the entry's own events say the rest."""

        mark: CustomsMark
        source: Source

        def apply(self, aggregate: Any) -> None:
            s: Shipment = aggregate
            at = bisect.bisect_right(s.customs, self.mark.occurred_at, key=_mark_at)
            s.customs.insert(at, self.mark)
            s.derivation = None
            s.last_activity_at = max(s.last_activity_at, self.timestamp)

    class StallDetected(Aggregate.Event):
        """Nothing was heard of the shipment for longer than ``threshold``
        since ``since``; cleared by the next scan."""

        since: datetime
        threshold: timedelta
        source: Source

        def apply(self, aggregate: Any) -> None:
            aggregate.stalled_since = self.since

    def __init__(self, tracking_number: TrackingNumber, source: Source) -> None:
        self.tracking_number = tracking_number
        self.opened_by = source
        self.booking: Booking | None = None
        self.booked_route: Route | None = None
        self.booked_at: datetime | None = None
        self.plans: list[RoutePlan] = []
        self.scans: list[Scan] = []
        self.scan_ids: set[str] = set()
        self.stalled_since: datetime | None = None
        self.customs: list[CustomsMark] = []  # in occurred_at order
        # The delivery derived so far, gone on with as scans come in order.
        self.derivation: Derivation | None = None
        # When we last heard of it (recorded time of the booking or a scan).
        self.last_activity_at: datetime = self.created_on

    @staticmethod
    def create_id(tracking_number: str) -> UUID:
        return shipment_id(tracking_number)

    @classmethod
    def open(cls, tracking_number: TrackingNumber, source: Source) -> Shipment:
        return cls._create(cls.Opened, tracking_number=tracking_number, source=source)

    # -- state -------------------------------------------------------------------

    def state(self) -> ShipmentState:
        return ShipmentState(
            id=self.id,
            version=self.version,
            created_on=self.created_on,
            modified_on=self.modified_on,
            tracking_number=self.tracking_number,
            opened_by=self.opened_by,
            booking=self.booking,
            booked_route=self.booked_route,
            booked_at=self.booked_at,
            plans=list(self.plans),
            scans=list(self.scans),
            stalled_since=self.stalled_since,
            last_activity_at=self.last_activity_at,
            customs=list(self.customs),
        )

    @classmethod
    def from_state(cls, state: ShipmentState) -> Shipment:
        shipment = object.__new__(cls)
        shipment.__base_init__(state.id, state.version, state.created_on)
        shipment.modified_on = state.modified_on
        shipment.tracking_number = state.tracking_number
        shipment.opened_by = state.opened_by
        shipment.booking = state.booking
        shipment.booked_route = state.booked_route
        shipment.booked_at = state.booked_at
        shipment.plans = list(state.plans)
        shipment.scans = list(state.scans)
        shipment.scan_ids = {scan.scan_id for scan in state.scans}
        shipment.stalled_since = state.stalled_since
        shipment.last_activity_at = state.last_activity_at
        shipment.customs = list(state.customs)
        shipment.derivation = None
        return shipment

    # -- queries -----------------------------------------------------------------

    @property
    def is_booked(self) -> bool:
        return self.booking is not None

    def require_booked(self) -> Booking:
        if self.booking is None:
            raise ShipmentNotFound(self.tracking_number)
        return self.booking

    @property
    def destination(self) -> Locode:
        self.require_booked()
        return self.plans[-1].destination

    @property
    def route(self) -> Route:
        self.require_booked()
        return self.plans[-1].route

    def delivery(self) -> Delivery:
        self.require_booked()
        d = self.derivation
        if d is None or d.count > len(self.scans):
            d = self.derivation = Derivation(self.plans, self.customs)
        for scan in self.scans[d.count :]:
            d.add(scan)
        return d.result()

    # -- commands ----------------------------------------------------------------

    def book(self, booking: Booking, route: Route, source: Source) -> bool:
        """Book the shipment. Booking again with the same data changes nothing
        (False); with different data it is refused."""
        if self.booking is not None:
            if self.booking == booking and self.booked_route == route:
                return False
            raise BookingConflict(
                f"{self.tracking_number} is already booked with different data; "
                "use the route endpoint to change its route or destination"
            )
        self.trigger_event(self.Booked, booking=booking, route=route, source=source)
        return True

    def reroute(
        self, route: Route, destination: Locode | None, *, at: datetime, source: Source
    ) -> bool:
        """Give the shipment a new route (and destination). The same route and
        destination again changes nothing (False)."""
        self.require_booked()
        destination = destination or self.destination
        if destination == self.destination and route == self.route:
            return False
        delivery = self.delivery()
        if delivery.status.is_terminal:
            raise BookingConflict(
                f"{self.tracking_number} is {delivery.status.value.lower()}; "
                "its route can no longer change"
            )
        self.trigger_event(
            self.Rerouted, destination=destination, route=route, effective_at=at, source=source
        )
        return True

    def flag_stalled(self, *, now: datetime, threshold: timedelta, source: Source) -> bool:
        """Record that nothing was heard for longer than ``threshold``; False
        when that is not so (or already flagged, or the shipment is done)."""
        if (
            not self.is_booked
            or self.stalled_since is not None
            or now - self.last_activity_at <= threshold
            or self.delivery().status.is_terminal
        ):
            return False
        self.trigger_event(
            self.StallDetected, since=self.last_activity_at, threshold=threshold, source=source
        )
        return True

    def note_customs(self, mark: CustomsMark, source: Source) -> None:
        """Record that one of its customs entries moved on."""
        self.require_booked()
        self.trigger_event(self.CustomsUpdated, mark=mark, source=source)

    def record_scan(self, scan: Scan, source: Source, *, now: datetime) -> bool:
        """Record a scan; False when its scan_id is already recorded."""
        if scan.tracking_number != self.tracking_number:
            raise InvalidInput(
                "tracking_number",
                f"scan {scan.scan_id} is for {scan.tracking_number}, not {self.tracking_number}",
            )
        if scan.scan_id in self.scan_ids:
            return False
        if scan.occurred_at > now + FUTURE_TOLERANCE:
            raise InvalidInput(
                "occurred_at",
                f"{scan.occurred_at.isoformat()} is more than "
                f"{FUTURE_TOLERANCE.total_seconds() / 3600:.0f} h after it was received "
                f"({now.isoformat()}): check the scanner's clock",
            )
        self.trigger_event(self.ScanRecorded, scan=scan, source=source)
        return True


def _occurred_at(scan: Scan) -> datetime:
    return scan.occurred_at


def _mark_at(mark: CustomsMark) -> datetime:
    return mark.occurred_at
