"""The shipments' application service: book, re-route, subscribe, record
scans and carriers' updates, flag silence; and the shipment as it is now
(for commands, write answers and the audit trail: readers use the views).

Each command loads its shipments through the one unit of work
(``tracking.unitofwork``), calls the aggregate, and saves what changed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from copy import deepcopy
from datetime import datetime, timedelta
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Recording

from tracking import casework
from tracking.booking import Booking, Recipient
from tracking.carrier import CarrierUpdate
from tracking.casework import Casework
from tracking.delivery import Delivery
from tracking.errors import InvalidInput, ShipmentNotFound
from tracking.identifiers import Locode, TrackingNumber, shipment_id
from tracking.links import HandOvers, TrackingLinks
from tracking.outcomes import ScanOutcome, ScanResult, WriteResult
from tracking.personal_data import Vault, subject_of
from tracking.route import Route
from tracking.scan import SYSTEM, Scan, Source
from tracking.shipment import Shipment
from tracking.subscription import EmailAddress, Subscription
from tracking.unitofwork import AggregateStore, UnitOfWork, last_position, replay

Clock = Callable[[], datetime]


class Shipments:
    def __init__(self, store: AggregateStore, links: TrackingLinks, clock: Clock,
                 vault: Vault) -> None:
        self.store = store
        self.links = links
        self.clock = clock
        self.vault = vault  # seals personal data before it is recorded

    # -- commands ----------------------------------------------------------------

    def book(
        self, tracking_number: TrackingNumber, booking: Booking, route: Route, source: Source
    ) -> WriteResult:
        """Book a shipment (and apply any scans that came before it). The same
        booking again is a no-op; a different one raises BookingConflict."""
        sid = shipment_id(tracking_number)
        plain = booking.recipient if isinstance(booking.recipient, Recipient) else None
        if plain is not None:
            booking = msgspec.structs.replace(
                booking, recipient=self.vault.seal_recipient(subject_of(sid), plain))

        def command(unit: UnitOfWork) -> bool:
            shipment = unit.get(sid, Shipment) or Shipment.open(tracking_number, source)
            changed = shipment.book(booking, route, source)
            if changed:
                unit.changed(shipment)
            return changed

        written = self._one(sid, command)
        if plain is not None:
            # Once recorded (again: a no-op), never before: a refused booking
            # (another body) must not make the shipment findable by its name.
            self.vault.index_recipient(subject_of(sid), plain)
        return written

    def reroute(
        self,
        tracking_number: TrackingNumber,
        route: Route,
        source: Source,
        destination: Locode | None = None,
    ) -> WriteResult:
        """Give a booked shipment a new route, and a new destination if given."""
        at = self.clock()
        return self._change(
            tracking_number, lambda s: s.reroute(route, destination, at=at, source=source)
        )

    def work_exception(
        self, tracking_number: TrackingNumber, work: Casework, source: Source
    ) -> WriteResult:
        """Record an agent's casework on one of a shipment's open exceptions
        (tracking.casework)."""
        def change(shipment: Shipment) -> bool:
            if not shipment.is_booked:
                raise ShipmentNotFound(tracking_number)
            casework.work(shipment, work, source)
            return True

        return self._change(tracking_number, change)

    def subscribe(
        self, tracking_number: TrackingNumber, email: EmailAddress, language: str, source: Source
    ) -> WriteResult:
        """Record that someone asked for e-mail updates on a booked shipment."""
        subject = subject_of(shipment_id(tracking_number))
        subscription = Subscription(email=self.vault.seal(subject, "email", email),
                                    language=language, subscribed_at=self.clock())
        return self._change(tracking_number, lambda s: s.subscribe(subscription, source))

    def erase_personal_data(
        self, tracking_number: TrackingNumber, reason: str, source: Source
    ) -> WriteResult:
        """Erase the recipient's personal data: delete its key (so every
        sealed copy, in events, views and snapshots, is unreadable), then
        record who did it, when and why. Erasing again changes nothing."""
        at = self.clock()

        def change(shipment: Shipment) -> bool:
            shipment.require_booked()
            # The key first: a record of an erasure that did not happen would be worse.
            self.vault.erase(subject_of(shipment.id), at)
            return shipment.erase_personal_data(reason, at, source)

        return self._change(tracking_number, change)

    def record_updates(
        self, updates: Sequence[Scan | CarrierUpdate], source: Source | None = None
    ) -> list[ScanOutcome]:
        """Record scans and carriers' other updates (estimates, notes,
        retractions) for any number of shipments in one transaction. Each
        gets its outcome, in order: recorded, duplicate (its idempotency key
        is already recorded for that shipment), or rejected (with the field
        and reason) without holding back the others. ``source`` defaults to
        each scan's own device; a carrier update needs it."""
        now = self.clock()
        sids = [shipment_id(u.tracking_number) for u in updates]

        def command(unit: UnitOfWork) -> UpdateBatch:
            batch = UpdateBatch(unit, self.links, source, now)
            batch.record(updates, sids)
            return batch

        recordings, batch = self.store.write(list(dict.fromkeys(sids)), command)
        return batch.outcomes(recordings)

    def flag_stalled(
        self, tracking_numbers: Sequence[str], threshold: timedelta, source: Source = SYSTEM
    ) -> list[str]:
        """Record a StallDetected on each of these shipments that has had no
        scan for longer than ``threshold``; the numbers actually flagged."""
        now = self.clock()
        ids = list(dict.fromkeys(shipment_id(tn) for tn in tracking_numbers))

        def command(unit: UnitOfWork) -> list[str]:
            flagged = [s for s in unit.loaded(Shipment)
                       if s.flag_stalled(now=now, threshold=threshold, source=source)]
            unit.changed(*flagged)
            return [s.tracking_number for s in flagged]

        _, flagged = self.store.write(ids, command)
        return flagged

    def _change(self, tracking_number: TrackingNumber,
                change: Callable[[Shipment], bool]) -> WriteResult:
        """One command on one booked shipment; ``change`` says whether it changed."""
        sid = shipment_id(tracking_number)

        def command(unit: UnitOfWork) -> bool:
            shipment = unit.get(sid, Shipment)
            if shipment is None:
                raise ShipmentNotFound(tracking_number)
            changed = change(shipment)
            if changed:
                unit.changed(shipment)
            return changed

        return self._one(sid, command)

    def _one(self, sid: UUID, command: Callable[[UnitOfWork], bool]) -> WriteResult:
        recordings, changed = self.store.write([sid], command)
        return WriteResult(changed, last_position(recordings))

    # -- the shipment as it is now -----------------------------------------------

    def get(self, tracking_number: str) -> Shipment:
        """A private copy of the booked shipment as it is now."""
        with self.store.lock:
            return deepcopy(self._booked(tracking_number))

    def delivery(self, tracking_number: str) -> Delivery:
        with self.store.lock:
            return self._booked(tracking_number).delivery()

    def history(self, tracking_number: str) -> list[DomainEventProtocol[UUID]]:
        """Every recorded event of the shipment, in recorded order (including
        scans that came before it was booked)."""
        events = list(self.store.app.events.get(shipment_id(tracking_number)))
        if not any(isinstance(e, Shipment.Booked) for e in events):
            linked = self.links.linked(tracking_number)
            if linked is not None:
                return self.history(linked)
            raise ShipmentNotFound(tracking_number)
        return events

    def get_as_of(self, tracking_number: str, at: datetime) -> Shipment:
        """The shipment as its recorded events had made it at time ``at``."""
        events = itertools.takewhile(
            lambda e: e.timestamp <= at,
            self.store.app.events.get(shipment_id(tracking_number)),
        )
        shipment: Shipment | None = replay(events)
        if shipment is None or not shipment.is_booked:
            raise ShipmentNotFound(tracking_number, as_of=at)
        return shipment

    def _booked(self, tracking_number: str) -> Shipment:
        # Fresh: another process may have written since we cached it.
        shipment = self.store.get(shipment_id(tracking_number), Shipment)
        if shipment is None or not shipment.is_booked:
            raise ShipmentNotFound(tracking_number)
        return shipment


class _Awaiting(msgspec.Struct, frozen=True):
    """A recorded outcome waiting for its log position: the event that recorded it."""

    index: int  # into the batch's outcomes
    shipment_id: UUID
    version: int


class UpdateBatch:
    """One attempt at recording a batch of updates: each update's outcome,
    in order, and which of them wait for the position of their event."""

    def __init__(self, unit: UnitOfWork, links: TrackingLinks, source: Source | None,
                 now: datetime) -> None:
        self.unit = unit
        self.source = source
        self.now = now
        self.hand_overs = HandOvers(links, unit)
        self._outcomes: list[ScanOutcome] = []
        self._awaiting: list[_Awaiting] = []

    def record(self, updates: Sequence[Scan | CarrierUpdate], sids: Sequence[UUID]) -> None:
        """Record each update on its shipment (``sids``: each one's by its own number)."""
        unit = self.unit
        # Numbers with no booked shipment may be a later carrier's, for a
        # shipment handed over: their links, read in one query.
        unbooked = {sid for sid in dict.fromkeys(sids)
                    if (s := unit.get(sid, Shipment)) is None or s.booking is None}
        linked_to = self.hand_overs.links.links_of(
            u.tracking_number for u, sid in zip(updates, sids, strict=True) if sid in unbooked
        ) if unbooked else {}
        for update, sid in zip(updates, sids, strict=True):
            by = self.source or (update.source if isinstance(update, Scan) else _no_source(update))
            shipment = unit.get(sid, Shipment)
            if update.tracking_number in linked_to:
                linked = unit.get(shipment_id(linked_to[update.tracking_number]), Shipment)
                if linked is not None:
                    shipment = linked
            if shipment is None:
                shipment = Shipment.open(update.tracking_number, by)
            self._record(update, shipment, by)
        self.hand_overs.done()

    def _record(self, update: Scan | CarrierUpdate, shipment: Shipment, by: Source) -> None:
        outcome = ScanOutcome(
            scan_id=update.scan_id if isinstance(update, Scan) else update.key,
            tracking_number=update.tracking_number,
            result=ScanResult.RECORDED,
            booked=shipment.is_booked,
        )
        try:
            new = None
            if isinstance(update, Scan):
                if update.new_tracking_number is not None:
                    new = self.hand_overs.needed(update, shipment)
                recorded = shipment.record_scan(update, by, now=self.now)
            else:
                recorded = shipment.record_update(update, by, now=self.now)
            if recorded and new is not None:
                self.hand_overs.link(new, shipment, by)
        except InvalidInput as e:
            outcome = msgspec.structs.replace(
                outcome, result=ScanResult.REJECTED, field=e.field, reason=e.reason)
            recorded = False
        if recorded:
            self.unit.changed(shipment)
            self._awaiting.append(_Awaiting(len(self._outcomes), shipment.id, shipment.version))
        elif outcome.result is ScanResult.RECORDED:
            outcome = msgspec.structs.replace(outcome, result=ScanResult.DUPLICATE)
        self._outcomes.append(outcome)

    def outcomes(self, recordings: Sequence[Recording[UUID]]) -> list[ScanOutcome]:
        """Every update's outcome, the recorded ones with their log position."""
        positions = {
            (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
            for r in recordings
        }
        outcomes = list(self._outcomes)
        for a in self._awaiting:
            outcomes[a.index] = msgspec.structs.replace(
                outcomes[a.index], position=positions[(a.shipment_id, a.version)])
        return outcomes


def _no_source(update: CarrierUpdate) -> Source:
    raise ValueError(f"a carrier update ({type(update).__name__}) is recorded with a source")
