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

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from tracking.booking import Booking
from tracking import personal_data, shipment_state
from tracking.cargo import Cargo, CarriedLine
from tracking.carrier import CarrierNote, Estimate
from tracking.carrier_updates import CarrierUpdates
from tracking.customs_mark import CustomsMark
from tracking.delivery import Delivery
from tracking.derivation import Derivation
from tracking.errors import BookingConflict, InvalidInput, ShipmentNotFound
from tracking.occurred import WHEN_RECORDED
from tracking.identifiers import Locode, TrackingNumber, shipment_id
from tracking.limits import not_ahead
from tracking.recipient_data import RecipientData
from tracking.route import Route, RoutePlan
from tracking.scan import Reported, Scan, Source
from tracking.shipment_state import ShipmentState
from tracking.subscription import Subscription
from tracking.timeline import Timeline


class Shipment(Timeline, CarrierUpdates, Cargo, RecipientData, Aggregate):
    # Its carrier-update commands are in tracking.carrier_updates, those on the
    # recipient's personal data in tracking.recipient_data, its state as one
    # value in tracking.shipment_state, its timeline (what its scans and customs
    # marks apply, which of them count) in tracking.timeline.

    class Opened(Aggregate.Created):
        """The first word of this tracking number reached us."""

        tracking_number: TrackingNumber
        source: Source

        occurred_at = WHEN_RECORDED

    class Booked(Aggregate.Event):
        # v2: the recipient is sealed (tracking.personal_data), tagged by its form.
        class_version = 2

        booking: Booking
        route: Route
        source: Source

        occurred_at = WHEN_RECORDED
        upcast_v1_v2 = staticmethod(personal_data.upcast_booked_v1)

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
            aggregate.apply_scan(self.scan, self.timestamp)  # tracking.timeline

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
            aggregate.apply_mark(self.mark, self.timestamp)  # tracking.timeline

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
        this parcel at an e-mail address: personal data (sealed from v2)."""

        class_version = 2

        subscription: Subscription
        source: Source

        occurred_at = WHEN_RECORDED
        upcast_v1_v2 = staticmethod(personal_data.upcast_subscribed_v1)

        def apply(self, aggregate: Any) -> None:
            aggregate.subscriptions.append(self.subscription)

    class PersonalDataErased(Aggregate.Event):
        """The recipient's personal data (name, postcode, e-mail addresses)
        was erased: its key deleted, so every sealed copy is unreadable.
        Who did it, when and why; nothing derived changes."""

        reason: str
        erased_at: datetime
        source: Source

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            aggregate.apply_erasure(self.erased_at)  # tracking.recipient_data

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

    class CargoNotified(Aggregate.Event):
        """What it carries for a purchase order now (tracking.cargo)."""

        po_number: str
        lines: tuple[CarriedLine, ...]
        source: Source

        occurred_at = WHEN_RECORDED

        def apply(self, aggregate: Any) -> None:
            aggregate.cargo = {**aggregate.cargo, self.po_number: self.lines}
            if not self.lines:
                del aggregate.cargo[self.po_number]

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
            aggregate.apply_retraction(self.retracted_id)  # tracking.carrier_updates

    class RetractedEventRecorded(ScanRetracted):
        """The source sent an event with its declaration that the event was
        an error, and the event itself had never reached us: it is recorded
        as said (a scan, or a note of a code we have no equivalent for),
        retracted from the start, so it is in the history and nothing
        derived counts it."""

        scan: Scan | None
        note: CarrierNote | None

        def apply(self, aggregate: Any) -> None:
            aggregate.apply_retracted_event(self.retracted_id, self.scan)

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
        self.personal_data_erased_at: datetime | None = None
        self.cargo: dict[str, tuple[CarriedLine, ...]] = {}  # per purchase order

    @staticmethod
    def create_id(tracking_number: str) -> UUID:
        return shipment_id(tracking_number)

    @classmethod
    def open(cls, tracking_number: TrackingNumber, source: Source) -> Shipment:
        return cls._create(cls.Opened, tracking_number=tracking_number, source=source)

    # -- state -------------------------------------------------------------------

    def state(self) -> ShipmentState:
        return shipment_state.snapshot(self)

    @classmethod
    def from_state(cls, state: ShipmentState) -> Shipment:
        return shipment_state.restore(cls, state)

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
