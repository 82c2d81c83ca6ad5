"""The application service: load shipments, call their commands, save.

Writes in one process go through one lock: the event store serialises
writers anyway (PostgreSQL takes a table lock per insert, SQLite has one
writer), and the lock lets the aggregate cache hand out shipments without
copying them. Across processes, optimistic concurrency does the work: a
write that loses a race (another process saved the same shipment version
first) is retried from freshly loaded state, so nothing is lost and a scan
recorded elsewhere in the meantime is seen as the duplicate it is.

Many shipments are loaded with one query where the recorder can do it
(``select_events_many``), and a batch of scans for many shipments is saved
in one transaction.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Recording, StoredEvent

from tracking.booking import Booking
from tracking.compliance import Charges, CheckResult, Finding, check
from tracking.customs import CustomsEntry, CustomsEntryNotFound, CustomsStatus, customs_entry_id
from tracking.declaration import Declaration
from tracking.carrier import CarrierUpdate
from tracking.delivery import Delivery
from tracking.errors import CustomsConflict, InvalidInput, ShipmentNotFound, WriteContention
from tracking.identifiers import Locode, TrackingNumber, shipment_id
from tracking.link import TrackingLink, link_id
from tracking.mapper import StructMapper
from tracking.nomenclature import Nomenclature
from tracking.route import Route
from tracking.scan import SYSTEM, Scan, Source
from tracking.shipment import Shipment, ShipmentState
from tracking.subscription import EmailAddress, Subscription
from tracking.tariff import CustomsRules, default_rules
from tracking.webhook import Webhook, WebhookNotFound

T = TypeVar("T")
Clock = Callable[[], datetime]


@runtime_checkable
class MultiStreamReader(Protocol):
    """A recorder that reads many aggregates' streams in one query each."""

    def select_events_many(self, originator_ids: Sequence[UUID]) -> Sequence[StoredEvent]:
        """Their events, ordered by originator id, then version."""

    def select_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The latest version of each stream that exists."""


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


class Declared(msgspec.Struct, frozen=True, kw_only=True):
    """What a declaration became: ``created`` is False when the same
    declaration was already recorded (or an amendment changed nothing)."""

    entry_id: UUID
    created: bool
    position: int | None
    findings: tuple[Finding, ...]


class ShipmentService(Application[UUID]):
    name = "tracking"
    env: ClassVar[dict[str, str]] = {
        # Saved shipments go into the cache; a stale entry (another process
        # wrote since) fails on save and is reloaded, so no per-read query.
        "AGGREGATE_CACHE_MAXSIZE": "20000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }
    MAX_ATTEMPTS = 10

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        clock: Clock | None = None,
        customs_rules: CustomsRules | None = None,
        nomenclature: Nomenclature | None = None,
    ) -> None:
        super().__init__(env)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.customs_rules = customs_rules or default_rules()
        self.nomenclature = nomenclature
        self._lock = threading.RLock()
        # Set after every save, for projection runners in this process.
        self.saved = threading.Event()

    def construct_mapper(self) -> StructMapper:  # type: ignore[override]
        return StructMapper(compressor=self.factory.compressor(), cipher=self.factory.cipher())

    # -- commands ----------------------------------------------------------------

    def book(
        self, tracking_number: TrackingNumber, booking: Booking, route: Route, source: Source
    ) -> WriteResult:
        """Book a shipment (and apply any scans that came before it). The same
        booking again is a no-op; a different one raises BookingConflict."""
        sid = shipment_id(tracking_number)

        def command(loaded: dict[UUID, Shipment | None]) -> tuple[list[Shipment], bool]:
            shipment = loaded[sid] or Shipment.open(tracking_number, source)
            changed = shipment.book(booking, route, source)
            return ([shipment] if changed else []), changed

        recordings, changed = self._write([sid], command)
        return WriteResult(changed, _last_position(recordings))

    def reroute(
        self,
        tracking_number: TrackingNumber,
        route: Route,
        source: Source,
        destination: Locode | None = None,
    ) -> WriteResult:
        """Give a booked shipment a new route, and a new destination if given."""
        sid = shipment_id(tracking_number)
        at = self.clock()

        def command(loaded: dict[UUID, Shipment | None]) -> tuple[list[Shipment], bool]:
            shipment = loaded[sid]
            if shipment is None:
                raise ShipmentNotFound(tracking_number)
            changed = shipment.reroute(route, destination, at=at, source=source)
            return ([shipment] if changed else []), changed

        recordings, changed = self._write([sid], command)
        return WriteResult(changed, _last_position(recordings))

    def subscribe(
        self, tracking_number: TrackingNumber, email: EmailAddress, language: str, source: Source
    ) -> WriteResult:
        """Record that someone asked for e-mail updates on a booked shipment."""
        sid = shipment_id(tracking_number)
        subscription = Subscription(email=email, language=language, subscribed_at=self.clock())

        def command(loaded: dict[UUID, Shipment | None]) -> tuple[list[Shipment], bool]:
            shipment = loaded[sid]
            if shipment is None:
                raise ShipmentNotFound(tracking_number)
            changed = shipment.subscribe(subscription, source)
            return ([shipment] if changed else []), changed

        recordings, changed = self._write([sid], command)
        return WriteResult(changed, _last_position(recordings))

    def create_webhook(
        self, url: str, events: list[str], account: str, key: bytes, source: Source,
        *, allow_http: bool = False,
    ) -> tuple[Webhook, int | None]:
        """Record a merchant's webhook subscription (``key``: its first
        signing key); the subscription and the log position recorded."""
        webhook = Webhook.create(url, events, account, key, source, allow_http=allow_http)
        with self._lock:
            recordings = self._save([webhook])  # type: ignore[list-item]
        return webhook, _last_position(recordings)

    def webhook(self, webhook_id: UUID) -> Webhook:
        """A webhook subscription that has not been deleted, as last saved
        by any process (a cached one is checked against the store)."""
        self._evict_stale([webhook_id])
        try:
            found = self.repository.get(webhook_id)
        except AggregateNotFoundError:
            raise WebhookNotFound(webhook_id) from None
        if not isinstance(found, Webhook) or found.deleted:
            raise WebhookNotFound(webhook_id)
        return found

    def change_webhook(
        self, webhook_id: UUID, change: Callable[[Webhook], T]
    ) -> tuple[T, int | None]:
        """Apply ``change`` (rotate, disable, delete) to a subscription and save it."""

        def command(loaded: dict[UUID, Any]) -> tuple[list[Any], T]:
            webhook = loaded[webhook_id]
            if not isinstance(webhook, Webhook) or webhook.deleted:
                raise WebhookNotFound(webhook_id)
            result = change(webhook)
            return [webhook], result

        recordings, result = self._write([webhook_id], command)
        return result, _last_position(recordings)

    def record_scan(self, scan: Scan, source: Source | None = None) -> ScanOutcome:
        return self.record_scans([scan], source)[0]

    def record_scans(
        self, scans: Sequence[Scan], source: Source | None = None
    ) -> list[ScanOutcome]:
        """Record scans for any number of shipments in one transaction. Each
        scan gets its outcome, in order: recorded, duplicate (its scan_id is
        already recorded for that shipment), or rejected (with the field and
        reason) without holding back the others. ``source`` defaults to each
        scan's own device."""
        return self.record_updates(scans, source)

    def record_updates(
        self, updates: Sequence[Scan | CarrierUpdate], source: Source | None = None
    ) -> list[ScanOutcome]:
        """``record_scans`` for scans and carriers' other updates (estimates,
        notes, retractions) alike; each outcome's ``scan_id`` is the update's
        idempotency key. A carrier update needs ``source``."""
        scans = updates
        now = self.clock()
        sids = [shipment_id(s.tracking_number) for s in scans]
        ids = list(dict.fromkeys(sids))

        def command(
            loaded: dict[UUID, Shipment | None],
        ) -> tuple[list[Shipment], list[ScanOutcome | tuple[UUID, int, ScanOutcome]]]:
            touched: dict[UUID, Shipment] = {}
            links: dict[str, TrackingLink] = {}
            outcomes: list[ScanOutcome | tuple[UUID, int, ScanOutcome]] = []
            # Numbers with no booked shipment may be a later carrier's, for a
            # shipment handed over: their links, read in one query.
            unbooked = {sid for sid, shipment in loaded.items()
                        if shipment is None or shipment.booking is None}
            linked_to = self._links_of(
                s.tracking_number for s, sid in zip(scans, sids, strict=True) if sid in unbooked
            ) if unbooked else {}
            for scan, sid in zip(scans, sids, strict=True):
                by = source or scan.source  # type: ignore[union-attr]
                shipment = touched.get(sid) or loaded[sid]
                if scan.tracking_number in linked_to:
                    linked = self._linked_shipment(linked_to[scan.tracking_number], touched, loaded)
                    if linked is not None:
                        sid, shipment = linked.id, linked
                if shipment is None:
                    shipment = Shipment.open(scan.tracking_number, by)
                outcome = ScanOutcome(
                    scan_id=scan.scan_id if isinstance(scan, Scan) else scan.key,
                    tracking_number=scan.tracking_number,
                    result=ScanResult.RECORDED,
                    booked=shipment.is_booked,
                )
                try:
                    link = None
                    if isinstance(scan, Scan):
                        if scan.new_tracking_number is not None:
                            link = self._link_needed(scan, shipment, links)
                        recorded = shipment.record_scan(scan, by, now=now)
                    else:
                        recorded = shipment.record_update(scan, by, now=now)
                    if recorded and link is not None:
                        links[link] = TrackingLink.link(
                            TrackingNumber(link), shipment.tracking_number, by)
                except InvalidInput as e:
                    outcomes.append(
                        msgspec.structs.replace(
                            outcome, result=ScanResult.REJECTED, field=e.field, reason=e.reason
                        )
                    )
                    continue
                if not recorded:
                    outcomes.append(msgspec.structs.replace(outcome, result=ScanResult.DUPLICATE))
                    continue
                touched[sid] = shipment
                outcomes.append((sid, shipment.version, outcome))
            return [*touched.values(), *links.values()], outcomes  # type: ignore[list-item]

        recordings, outcomes = self._write(ids, command)
        positions = {
            (r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
            for r in recordings
        }
        return [
            o
            if isinstance(o, ScanOutcome)
            else msgspec.structs.replace(o[2], position=positions[(o[0], o[1])])
            for o in outcomes
        ]

    # -- carrier hand-over (tracking.link) ------------------------------------------

    def linked(self, tracking_number: str) -> TrackingNumber | None:
        """The number of the shipment handed over under this number, if any."""
        return self._links_of([tracking_number]).get(tracking_number)

    def _links_of(self, tracking_numbers: Iterable[str]) -> dict[str, TrackingNumber]:
        """Each of these numbers that is linked, to its shipment's number."""
        ids = list(dict.fromkeys(link_id(tn) for tn in tracking_numbers))
        return {
            link.tracking_number: link.shipment
            for _, link in self._reconstruct(ids)
            if isinstance(link, TrackingLink)
        }

    def _linked_shipment(
        self, target: TrackingNumber, touched: dict[UUID, Shipment],
        loaded: dict[UUID, Shipment | None],
    ) -> Shipment | None:
        sid = shipment_id(target)
        found = touched.get(sid) or loaded.get(sid) or self._read(sid)
        return found if isinstance(found, Shipment) else None

    def _link_needed(
        self, scan: Scan, shipment: Shipment, links: dict[str, TrackingLink]
    ) -> str | None:
        """The new number a hand-over scan links to its shipment, if not
        linked yet; refused when the number is already another shipment's."""
        new = scan.new_tracking_number
        if new is None or new in shipment.aliases:
            return None
        if new == shipment.tracking_number:
            raise InvalidInput("new_tracking_number", "is the shipment's own number")
        other = self._read(shipment_id(new))
        if isinstance(other, Shipment) and other.is_booked:
            raise InvalidInput("new_tracking_number", f"{new} is booked as a shipment of its own")
        linked = self.linked(new)
        if linked is not None and linked != shipment.tracking_number:
            raise InvalidInput("new_tracking_number", f"{new} is already linked to {linked}")
        if new in links and links[new].shipment != shipment.tracking_number:
            raise InvalidInput("new_tracking_number", f"{new} is handed over twice in one batch")
        return None if linked is not None else new

    def _read(self, aggregate_id: UUID) -> Any:
        """A private copy of one stream's aggregate (not cached: it is only
        cached once saved), or None."""
        return next(self._reconstruct([aggregate_id]))[1]

    def flag_stalled(
        self, tracking_numbers: Sequence[str], threshold: timedelta, source: Source = SYSTEM
    ) -> list[str]:
        """Record a StallDetected on each of these shipments that has had no
        scan for longer than ``threshold``; the numbers actually flagged."""
        now = self.clock()
        ids = list(dict.fromkeys(shipment_id(tn) for tn in tracking_numbers))

        def command(loaded: dict[UUID, Shipment | None]) -> tuple[list[Shipment], list[str]]:
            flagged = [
                s
                for s in loaded.values()
                if s is not None and s.flag_stalled(now=now, threshold=threshold, source=source)
            ]
            return flagged, [s.tracking_number for s in flagged]

        _, flagged = self._write(ids, command)
        return flagged

    # -- customs -----------------------------------------------------------------

    def declare(self, declaration: Declaration, source: Source) -> Declared:
        """Declare a booked shipment's goods to its destination's customs,
        with the compliance findings and the estimate of the rules in force
        today. The same declaration again changes nothing; a different one for
        the same shipment and country raises CustomsConflict (amend instead)."""
        sid = shipment_id(declaration.tracking_number)
        eid = customs_entry_id(declaration.tracking_number, declaration.destination_country)
        now = self.clock()

        def command(loaded: dict[UUID, Any]) -> tuple[list[Any], Declared]:
            shipment: Shipment | None = loaded[sid]
            if shipment is None or not shipment.is_booked:
                raise ShipmentNotFound(declaration.tracking_number)
            entry: CustomsEntry | None = loaded[eid]
            if entry is not None:
                if entry.declaration != declaration:
                    raise CustomsConflict(
                        f"customs entry {eid} for {declaration.tracking_number} into "
                        f"{declaration.destination_country} holds a different declaration; "
                        "amend it instead"
                    )
                return [], Declared(entry_id=eid, created=False, position=None,
                                    findings=entry.findings)
            result = self._check(declaration, shipment, now)
            entry = CustomsEntry.declare(
                declaration, result.findings, result.estimate, source, at=now
            )
            shipment.note_customs(entry.mark(), source)
            return [entry, shipment], Declared(entry_id=eid, created=True, position=None,
                                               findings=result.findings)

        recordings, declared = self._write([sid, eid], command)
        return msgspec.structs.replace(declared, position=_last_position(recordings))

    def amend(self, entry_id: UUID, declaration: Declaration, source: Source) -> Declared:
        """Replace an entry's declaration (re-checked against today's rules)."""
        now = self.clock()
        sid = self._shipment_of(entry_id)

        def command(loaded: dict[UUID, Any]) -> tuple[list[Any], Declared]:
            entry: CustomsEntry = loaded[entry_id]
            shipment: Shipment | None = loaded[sid]
            result = self._check(declaration, shipment, now)
            changed = entry.amend(declaration, result.findings, result.estimate, source)
            return ([entry] if changed else []), Declared(
                entry_id=entry_id, created=changed, position=None, findings=entry.findings
            )

        recordings, declared = self._write([entry_id, sid], command)
        return msgspec.structs.replace(declared, position=_last_position(recordings))

    def record_customs_event(
        self,
        entry_id: UUID,
        status: CustomsStatus,
        *,
        occurred_at: datetime,
        source: Source,
        reason: str | None = None,
        detail: str | None = None,
        amount: Any = None,
        charges: Charges | None = None,
    ) -> WriteResult:
        """Record what customs did with an entry, and let its shipment know."""
        now = self.clock()
        # An entry's shipment never changes: find it first, then write both.
        sid = self._shipment_of(entry_id)

        def command(loaded: dict[UUID, Any]) -> tuple[list[Any], bool]:
            entry: CustomsEntry = loaded[entry_id]
            shipment: Shipment = loaded[sid]
            changed = entry.progress(
                status, occurred_at=occurred_at, source=source, now=now, reason=reason,
                detail=detail, amount=amount, charges=charges,
            )
            if not changed:
                return [], False
            shipment.note_customs(entry.mark(), source)
            return [entry, shipment], True

        recordings, changed = self._write([entry_id, sid], command)
        return WriteResult(changed, _last_position(recordings))

    def customs_entry(self, entry_id: UUID) -> CustomsEntry:
        """The entry as it is now (for commands and the audit trail; readers
        use the customs view)."""
        with self._lock:
            self._evict_stale([entry_id])
            entry = self._load([entry_id])[entry_id]
            if not isinstance(entry, CustomsEntry):
                raise CustomsEntryNotFound(str(entry_id))
            return deepcopy(entry)

    def _shipment_of(self, entry_id: UUID) -> UUID:
        """The id of the entry's shipment (which never changes, so a cached
        entry answers as well as a fresh one)."""
        with self._lock:
            entry = self._load([entry_id])[entry_id]
        if not isinstance(entry, CustomsEntry):
            raise CustomsEntryNotFound(str(entry_id))
        return shipment_id(entry.tracking_number)

    def _check(
        self, declaration: Declaration, shipment: Shipment | None, now: datetime
    ) -> CheckResult:
        return check(
            declaration,
            self.customs_rules,
            on=now.astimezone(UTC).date(),
            nomenclature=self.nomenclature,
            shipment_destination=(
                shipment.destination.country if shipment is not None and shipment.is_booked
                else None
            ),
        )

    # -- lookups -----------------------------------------------------------------

    def get(self, tracking_number: str) -> Shipment:
        """A private copy of the booked shipment as it is now."""
        with self._lock:
            return deepcopy(self._booked(tracking_number))

    def delivery(self, tracking_number: str) -> Delivery:
        with self._lock:
            return self._booked(tracking_number).delivery()

    def history(self, tracking_number: str) -> list[DomainEventProtocol[UUID]]:
        """Every recorded event of the shipment, in recorded order (including
        scans that came before it was booked)."""
        events = list(self.events.get(shipment_id(tracking_number)))
        if not any(isinstance(e, Shipment.Booked) for e in events):
            linked = self.linked(tracking_number)
            if linked is not None:
                return self.history(linked)
            raise ShipmentNotFound(tracking_number)
        return events

    def get_as_of(self, tracking_number: str, at: datetime) -> Shipment:
        """The shipment as its recorded events had made it at time ``at``."""
        events = itertools.takewhile(
            lambda e: e.timestamp <= at,  # type: ignore[attr-defined]
            self.events.get(shipment_id(tracking_number)),
        )
        shipment = _replay(events)
        if shipment is None or not shipment.is_booked:
            raise ShipmentNotFound(tracking_number, as_of=at)
        return shipment

    def _booked(self, tracking_number: str) -> Shipment:
        sid = shipment_id(tracking_number)
        self._evict_stale([sid])  # another process may have written since we cached it
        shipment = self._load([sid])[sid]
        if shipment is None or not shipment.is_booked:
            raise ShipmentNotFound(tracking_number)
        return shipment

    # -- loading and saving ------------------------------------------------------

    def _write(
        self, ids: Sequence[UUID], command: Callable[[dict[UUID, Shipment | None]], tuple[list[Shipment], T]]
    ) -> tuple[list[Recording[UUID]], T]:
        """Load, run the command, save what it returns; retried from fresh
        state when another writer got to one of these shipments first."""
        with self._lock:
            for attempt in range(self.MAX_ATTEMPTS):
                if len(ids) > 1:
                    # Before mutating a batch: one stale shipment found only
                    # on save would cost reloading all of them.
                    self._evict_stale(ids)
                replayed: set[UUID] = set()
                loaded = self._load(ids, replayed)
                # Cached shipments are changed in place; keep what they were
                # (a shallow copy), so a lost race undoes only itself and the
                # next attempt reloads just the shipments that really moved on.
                # Those just replayed from the store are dropped instead: a
                # copy of each would cost more than replaying them again, which
                # only a lost race needs.
                before = {
                    sid: s.state() for sid, s in loaded.items()
                    if isinstance(s, Shipment) and sid not in replayed
                }
                try:
                    to_save, result = command(loaded)
                    recordings = self._save(to_save) if to_save else []
                except IntegrityError:
                    self._restore(before, ids)
                    time.sleep(random.uniform(0, 0.002 * 2**attempt))
                    continue
                except BaseException:
                    # Cached shipments may hold half-applied changes.
                    self._evict(ids)
                    raise
                return recordings, result
        raise WriteContention(
            f"{len(ids)} shipment(s) kept changing under concurrent writers; "
            f"gave up after {self.MAX_ATTEMPTS} attempts, nothing was recorded"
        )

    def _save(self, shipments: list[Shipment]) -> list[Recording[UUID]]:
        """Application.save for shipments, without its per-object protocol
        checks (slow on Python 3.11: a third of a warm batch's time)."""
        processing = ProcessingEvent[UUID]()
        for shipment in shipments:
            processing.events.extend(shipment.collect_events())
            processing.aggregates[shipment.id] = shipment
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.saved.set()
        return recordings

    def _evict_stale(self, ids: Sequence[UUID]) -> None:
        cache = self.repository.cache
        if cache is None or not isinstance(self.recorder, MultiStreamReader):
            return
        cached: dict[UUID, int] = {}
        for sid in ids:
            try:
                cached[sid] = cache.get(sid).version
            except KeyError:
                pass
        if cached:
            stored = self.recorder.select_versions(list(cached))
            self._evict(sid for sid, version in cached.items() if stored.get(sid) != version)

    def _load(
        self, ids: Iterable[UUID], replayed: set[UUID] | None = None
    ) -> dict[UUID, Shipment | None]:
        """The aggregates, from the cache or replayed from the store (their
        ids added to ``replayed``); None for streams that do not exist."""
        cache = self.repository.cache
        found: dict[UUID, Shipment | None] = {}
        missing: list[UUID] = []
        for sid in ids:
            if cache is not None:
                try:
                    found[sid] = cache.get(sid)
                    continue
                except KeyError:
                    pass
            missing.append(sid)
        for sid, shipment in self._reconstruct(missing):
            found[sid] = shipment
            if replayed is not None:
                replayed.add(sid)
            if cache is not None and shipment is not None:
                cache.put(sid, shipment)
        return found

    def _reconstruct(self, ids: list[UUID]) -> Iterator[tuple[UUID, Shipment | None]]:
        if not ids:
            return
        if not isinstance(self.recorder, MultiStreamReader):
            for sid in ids:
                yield sid, _replay(self.events.get(sid))
            return
        found: set[UUID] = set()
        stored = self.recorder.select_events_many(ids)
        for sid, group in itertools.groupby(stored, key=lambda s: s.originator_id):
            found.add(sid)  # type: ignore[arg-type]
            yield sid, _replay(map(self.mapper.to_domain_event, group))  # type: ignore[arg-type]
        for sid in ids:
            if sid not in found:
                yield sid, None

    def _restore(self, before: dict[UUID, ShipmentState], ids: Sequence[UUID]) -> None:
        """Put back the shipments as they were before a failed save."""
        self._evict(ids)
        cache = self.repository.cache
        if cache is None or len(ids) == 1:
            return  # one shipment: reloading it is as cheap
        for sid, state in before.items():
            cache.put(sid, Shipment.from_state(state))

    def _evict(self, ids: Iterable[UUID]) -> None:
        cache = self.repository.cache
        if cache is None:
            return
        for sid in ids:
            try:
                cache.get(sid, evict=True)
            except KeyError:
                pass

    def position(self) -> int:
        """The position of the last event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0


def _replay(events: Iterable[DomainEventProtocol[UUID]]) -> Shipment | None:
    """Project events into a shipment. The library's project_aggregate does
    the same, with an isinstance check against a protocol per event that
    took half the time of loading a shipment."""
    shipment: Any = None
    for event in events:
        shipment = event.mutate(shipment)  # type: ignore[attr-defined]
    return shipment


def _last_position(recordings: Sequence[Recording[Any]]) -> int | None:
    return max((r.notification.id for r in recordings), default=None)
