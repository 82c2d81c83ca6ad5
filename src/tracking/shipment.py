"""The Shipment aggregate: one parcel under one tracking number.

A shipment's stream opens with the first thing we hear of it: its booking,
or a scan that came before the booking (kept, and applied once booked).
Commands validate before any event is triggered; ``apply`` methods only set
state from the event's own data and the state before it.

Once what is derived has reached an end (DELIVERED or RETURNED), what is
recorded after that (a scanner's upload dated days earlier, a customs report
of a return) is kept, and shown among the events, but changes nothing
derived: a customer told "delivered" is not told "returned" by a late
upload. A carrier retracting the scan that ended it (an error declaration)
is the one way back, as the record then says it never ended.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate

from tracking.booking import Booking
from tracking.carrier import CarrierNote, CarrierUpdate, Estimate, EstimateUpdate, Retraction
from tracking.codes import ScanEvent
from tracking.customs import CustomsMark
from tracking.delivery import Delivery
from tracking.derivation import Derivation
from tracking.errors import BookingConflict, InvalidInput, ShipmentNotFound
from tracking.occurred import WHEN_RECORDED
from tracking.identifiers import Locode, TrackingNumber, shipment_id
from tracking.limits import not_ahead
from tracking.route import Route, RoutePlan
from tracking.scan import Reported, Scan, Source
from tracking.subscription import Subscription



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
    # Carrier updates (defaults: views projected before they existed load).
    estimates: list[Estimate] = []
    retracted: list[Scan] = []
    other_ids: list[str] = []
    # Recorded after the end (scan ids, customs mark keys): kept, not derived from.
    after_end: list[str] = []
    subscriptions: list[Subscription] = []


_STATE_FIELDS = tuple(
    f for f in ShipmentState.__struct_fields__ if f not in ("id", "version", "created_on")
)


class Shipment(Aggregate):
    class Opened(Aggregate.Created):
        """The first word of this tracking number reached us."""

        tracking_number: TrackingNumber
        source: Source

        occurred_at = WHEN_RECORDED

    class Booked(Aggregate.Event):
        booking: Booking
        route: Route
        source: Source

        occurred_at = WHEN_RECORDED

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

        @property
        def occurred_at(self) -> datetime:
            """When it happened: when the new route took effect."""
            return self.effective_at

        def apply(self, aggregate: Any) -> None:
            aggregate.plans.append(RoutePlan(self.destination, self.route, self.effective_at))
            aggregate.derivation = None

    class ScanRecorded(Aggregate.Event):
        scan: Scan
        source: Source

        @property
        def occurred_at(self) -> datetime:
            """When it happened: when the scan says it did."""
            return self.scan.occurred_at

        def apply(self, aggregate: Any) -> None:
            s: Shipment = aggregate
            s.scan_ids.add(self.scan.scan_id)
            if self.scan.new_tracking_number is not None:
                s.aliases.add(self.scan.new_tracking_number)
            if s.has_ended():
                s.after_end.add(self.scan.scan_id)
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

        @property
        def occurred_at(self) -> datetime:
            """When it happened: when customs did it."""
            return self.mark.occurred_at

        def apply(self, aggregate: Any) -> None:
            s: Shipment = aggregate
            if s.has_ended():
                s.after_end.add(_mark_key(self.mark))
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

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            aggregate.stalled_since = self.since

    class NotificationSubscribed(Aggregate.Event):
        """The customer (who knew the recipient's postcode) asked to hear of
        this parcel at an e-mail address: personal data."""

        subscription: Subscription
        source: Source

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            aggregate.subscriptions.append(self.subscription)

    # -- carrier updates (tracking.carrier) ----------------------------------------

    class EstimateReceived(Aggregate.Event):
        """A carrier's planned or estimated time for a handling event."""

        estimate_id: str
        estimate: Estimate
        reported: Reported
        source: Source

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            aggregate.other_ids.append(self.estimate_id)
            aggregate.scan_ids.add(self.estimate_id)
            aggregate.estimates.append(self.estimate)

    class CarrierEventNoted(Aggregate.Event):
        """A carrier event with a code we have no equivalent for, as said."""

        note_id: str
        occurred_at: datetime
        location: Locode | None
        reported: Reported
        source: Source

        def apply(self, aggregate: Any) -> None:
            aggregate.other_ids.append(self.note_id)
            aggregate.scan_ids.add(self.note_id)

    class ScanRetracted(Aggregate.Event):
        """The source declared the event ``retracted_id`` an error: it stays
        in the history, and what is derived no longer counts it."""

        retracted_id: str
        declared_at: datetime
        reason: str | None
        corrected_by: tuple[str, ...]
        source: Source

        @property
        def occurred_at(self) -> datetime:
            """When it happened: when the source declared the error."""
            return self.declared_at

        def apply(self, aggregate: Any) -> None:
            s: Shipment = aggregate
            key = f"retracts:{self.retracted_id}"
            s.other_ids.append(key)
            s.scan_ids.add(key)
            for i, scan in enumerate(s.scans):
                if scan.scan_id == self.retracted_id:
                    s.retracted.append(s.scans.pop(i))
                    s.derivation = None  # derive again without it
                    s.after_end.discard(scan.scan_id)
                    if not s.has_ended():
                        # The end it had reached never was: what came after counts.
                        s.after_end.clear()
                    break

    class RetractedEventRecorded(ScanRetracted):
        """The source sent an event with its declaration that the event was
        an error, and the event itself had never reached us: it is recorded
        as said (a scan, or a note of a code we have no equivalent for),
        retracted from the start, so it is in the history and nothing
        derived counts it."""

        scan: Scan | None
        note: CarrierNote | None

        def apply(self, aggregate: Any) -> None:
            s: Shipment = aggregate
            key = f"retracts:{self.retracted_id}"
            s.other_ids.append(key)
            s.scan_ids.update((key, self.retracted_id))
            if self.scan is not None:
                s.retracted.append(self.scan)
                if self.scan.new_tracking_number is not None:
                    s.aliases.add(self.scan.new_tracking_number)  # as a retracted scan's
            else:
                s.other_ids.append(self.retracted_id)

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
        self.estimates: list[Estimate] = []
        self.retracted: list[Scan] = []
        # Ids of recorded carrier updates other than scans (in scan_ids too).
        self.other_ids: list[str] = []
        # Tracking numbers of later carriers, from hand-over scans (tracking.link).
        self.aliases: set[str] = set()
        # Scans and customs marks recorded after it had ended (their keys).
        self.after_end: set[str] = set()
        self.subscriptions: list[Subscription] = []

    @staticmethod
    def create_id(tracking_number: str) -> UUID:
        return shipment_id(tracking_number)

    @classmethod
    def open(cls, tracking_number: TrackingNumber, source: Source) -> Shipment:
        return cls._create(cls.Opened, tracking_number=tracking_number, source=source)

    # -- state -------------------------------------------------------------------

    def state(self) -> ShipmentState:
        values = {f: getattr(self, f) for f in _STATE_FIELDS}
        # Its own lists, so the aggregate going on does not change the value.
        values = {f: sorted(v) if isinstance(v, set) else list(v) if isinstance(v, list) else v
                  for f, v in values.items()}
        return ShipmentState(id=self.id, version=self.version, created_on=self.created_on,
                             **values)

    @classmethod
    def from_state(cls, state: ShipmentState) -> Shipment:
        shipment = object.__new__(cls)
        shipment.__base_init__(state.id, state.version, state.created_on)
        for f in _STATE_FIELDS:
            value = getattr(state, f)
            setattr(shipment, f, list(value) if isinstance(value, list) else value)
        shipment.after_end = set(state.after_end)
        shipment.derivation = None
        shipment.scan_ids = {
            scan.scan_id for scan in (*state.scans, *state.retracted)
        } | set(state.other_ids)
        shipment.aliases = {
            scan.new_tracking_number for scan in (*state.scans, *state.retracted)
            if scan.new_tracking_number is not None
        }
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

    def is_unfinished(self, delivery: Delivery | None = None) -> bool:
        """Booked, and neither delivered nor returned: still on its way (what
        carrier polling asks about). ``delivery``: its delivery, when at hand."""
        return self.is_booked and not (delivery or self.delivery()).status.is_terminal

    def may_stall(self, delivery: Delivery | None = None) -> bool:
        """Unfinished and not flagged yet: what a long silence flags as stalled."""
        return self.stalled_since is None and self.is_unfinished(delivery)

    def delivery(self) -> Delivery:
        self.require_booked()
        d = self.derivation
        after_end = self.after_end
        if d is None or d.count > len(self.scans):
            d = self.derivation = Derivation(self.plans, self.counted_customs())
        for scan in self.scans[d.count :]:
            if scan.scan_id in after_end:
                d.skip()
            else:
                d.add(scan)
        return d.result(self.estimates)

    def counted_scans(self) -> list[Scan]:
        """The scans its delivery is derived from: all but those recorded
        after it had ended (in occurred_at order)."""
        return [scan for scan in self.scans if scan.scan_id not in self.after_end]

    def counted_customs(self) -> list[CustomsMark]:
        """The customs marks its delivery is derived from, likewise."""
        return [m for m in self.customs if _mark_key(m) not in self.after_end]

    def has_ended(self) -> bool:
        """Whether what is derived has reached DELIVERED or RETURNED: a
        booked shipment with a delivery scan counted (the derivation ends at
        the first one, whatever else was said)."""
        return self.is_booked and any(
            scan.event is ScanEvent.DELIVERED and scan.scan_id not in self.after_end
            for scan in self.scans
        )

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
        if now - self.last_activity_at <= threshold or not self.may_stall():
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
        """Record a scan; False when its scan_id is already recorded. A scan
        under a later carrier's number (a hand-over's) is this shipment's."""
        if not self.answers_to(scan.tracking_number):
            raise InvalidInput(
                "tracking_number",
                f"scan {scan.scan_id} is for {scan.tracking_number}, not {self.tracking_number}",
            )
        if scan.scan_id in self.scan_ids:
            return False
        not_ahead("occurred_at", scan.occurred_at, now, ": check the scanner's clock")
        self.trigger_event(self.ScanRecorded, scan=scan, source=source)
        return True

    def subscribe(self, subscription: Subscription, source: Source) -> bool:
        """Record a request for e-mail updates; False when that address
        already asked."""
        self.require_booked()
        if any(s.email == subscription.email for s in self.subscriptions):
            return False
        self.trigger_event(self.NotificationSubscribed, subscription=subscription, source=source)
        return True

    # -- carrier updates ---------------------------------------------------------

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


def _occurred_at(scan: Scan) -> datetime:
    return scan.occurred_at


def _mark_at(mark: CustomsMark) -> datetime:
    return mark.occurred_at


def _mark_key(mark: CustomsMark) -> str:
    return f"customs:{mark.entry_id}/{mark.entry_version}"
