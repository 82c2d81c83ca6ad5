"""The one way the application services load and save aggregates.

Writes in one process go through one lock: the event store serialises
writers anyway (PostgreSQL takes a table lock per insert, SQLite has one
writer), and the lock lets the aggregate cache hand out aggregates without
copying them. Across processes, optimistic concurrency does the work: a
write that loses a race (another process saved the same aggregate version
first) is retried from freshly loaded state, so nothing is lost and a scan
recorded elsewhere in the meantime is seen as the duplicate it is.

Many aggregates are loaded with one query where the recorder can do it
(``select_latest_many``): a shipment from its state row
(``tracking.state_codec``) and whatever events came after it, any other
aggregate from its events. Whatever a command changed (shipments, customs
entries, tracking links) is saved in one transaction, with the state rows of
the shipments it changed where the recorder keeps them.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording, StoredEvent

from tracking.aggregate_cache import AggregateCache
from tracking.errors import WriteContention
from tracking.shipment import Shipment, ShipmentState
from tracking.state_codec import StateCodec

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)


class StoredState(NamedTuple):
    """An aggregate's state row: its state as of ``originator_version``."""

    originator_id: UUID
    originator_version: int
    format: int
    state: bytes


# (id, version, format, bytes) of each state row a save writes.
StateRow = tuple[UUID, int, int, bytes]


@runtime_checkable
class MultiStreamReader(Protocol):
    """A recorder that reads many aggregates' streams in one query each."""

    # Whether it writes the state rows given to insert_events(states=...)
    # and reads them back in select_latest_many.
    keeps_states: bool

    def select_events_many(self, originator_ids: Sequence[UUID]) -> Sequence[StoredEvent]:
        """Their events, ordered by originator id, then version."""

    def select_latest_many(
        self, originator_ids: Sequence[UUID]
    ) -> Sequence[StoredState | StoredEvent]:
        """What it takes to load them, in one query, ordered by originator id,
        then version: each one's state row (if it has one), then its events
        after the row's version (all its events if it has none)."""

    def select_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The latest version of each stream that exists."""


_NOT_LOADED: Any = object()


class UnitOfWork:
    """What one attempt of a command works on: the aggregates loaded for it,
    asked for by id and type, and those it changed, to be saved together."""

    def __init__(self, store: AggregateStore, loaded: dict[UUID, Aggregate | None]) -> None:
        self._store = store
        self._loaded = loaded
        self._changed: dict[UUID, Aggregate] = {}

    def get(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """The aggregate of this id (changed in this unit first), or None if
        its stream does not exist; loaded on demand if not loaded upfront."""
        found = self._changed.get(aggregate_id) or self._loaded.get(aggregate_id, _NOT_LOADED)
        if found is _NOT_LOADED:
            found = self._loaded[aggregate_id] = self._store.read(aggregate_id)
        if found is None:
            return None
        if not isinstance(found, kind):
            raise TypeError(f"stream {aggregate_id} holds a {type(found).__name__}, "
                            f"not a {kind.__name__}")
        return found

    def loaded(self, kind: type[A]) -> list[A]:
        """The aggregates of this type loaded for the command, in load order."""
        return [a for a in self._loaded.values() if isinstance(a, kind)]

    def changed(self, *aggregates: Aggregate) -> None:
        """Save these with the unit (in the order first given)."""
        for aggregate in aggregates:
            self._changed.setdefault(aggregate.id, aggregate)

    @property
    def to_save(self) -> list[Aggregate]:
        return list(self._changed.values())


class AggregateStore:
    """Load, cache, save and retry, for every aggregate type of the
    application (its recorder, mapper and cache)."""

    MAX_ATTEMPTS = 10

    def __init__(
        self, app: Application[UUID], saved: threading.Event, *, cache_bytes: int
    ) -> None:
        self.app = app
        self.lock = threading.RLock()
        # Set after every save, for projection runners in this process.
        self.saved = saved
        self.states = StateCodec()
        # The library's cache counts aggregates; this one counts their bytes.
        self.cache = app.repository.cache = AggregateCache(cache_bytes)

    # -- writing -----------------------------------------------------------------

    def write(
        self, ids: Sequence[UUID], command: Callable[[UnitOfWork], T]
    ) -> tuple[list[Recording[UUID]], T]:
        """Load, run the command, save what it changed; retried from fresh
        state when another writer got to one of these aggregates first."""
        with self.lock:
            for attempt in range(self.MAX_ATTEMPTS):
                if len(ids) > 1:
                    # Before mutating a batch: one stale aggregate found only
                    # on save would cost reloading all of them.
                    self.evict_stale(ids)
                replayed: set[UUID] = set()
                unit = UnitOfWork(self, self.load(ids, replayed))
                # Cached shipments are changed in place; keep what they were
                # (a shallow copy), so a lost race undoes only itself and the
                # next attempt reloads just the shipments that really moved on.
                # Those just replayed from the store are dropped instead: a
                # copy of each would cost more than replaying them again, which
                # only a lost race needs.
                before = {s.id: s.state() for s in unit.loaded(Shipment) if s.id not in replayed}
                try:
                    result = command(unit)
                    to_save = unit.to_save
                    recordings = self.save(to_save) if to_save else []
                except IntegrityError:
                    self._restore(before, ids)
                    time.sleep(random.uniform(0, 0.002 * 2**attempt))  # nosec B311: jitter or made-up data, not a secret
                    continue
                except BaseException:
                    # Cached aggregates may hold half-applied changes.
                    self.evict(ids)
                    raise
                return recordings, result
        raise WriteContention(
            f"{len(ids)} aggregate(s) kept changing under concurrent writers; "
            f"gave up after {self.MAX_ATTEMPTS} attempts, nothing was recorded"
        )

    def save(self, aggregates: Sequence[Aggregate]) -> list[Recording[UUID]]:
        """Application.save, without its per-object protocol checks (slow on
        Python 3.11: a third of a warm batch's time), with the shipments'
        state rows in the same transaction as their events."""
        app = self.app
        processing = ProcessingEvent[UUID]()
        for aggregate in aggregates:
            processing.events.extend(aggregate.collect_events())
            processing.aggregates[aggregate.id] = aggregate
        states: list[StateRow] = []
        recorder = app.recorder
        if isinstance(recorder, MultiStreamReader) and recorder.keeps_states:
            for aggregate in aggregates:  # encoded here, before the transaction
                row = self.states.encode(aggregate)
                if row is not None:
                    states.append((aggregate.id, aggregate.version, *row))
            processing.saved_kwargs["states"] = states
        recordings = app.events.put(processing.events, **processing.saved_kwargs)
        for aggregate in aggregates:
            self.cache.put(aggregate.id, aggregate)
        app._notify(recordings)
        self.saved.set()
        return recordings

    # -- reading -----------------------------------------------------------------

    def get(self, aggregate_id: UUID, kind: type[A], *, fresh: bool = True) -> A | None:
        """The aggregate as it is now, from the cache (checked against the
        store's version unless ``fresh`` is False), or None."""
        with self.lock:
            if fresh:
                self.evict_stale([aggregate_id])
            found = self.load([aggregate_id])[aggregate_id]
        return found if isinstance(found, kind) else None

    def read(self, aggregate_id: UUID) -> Aggregate | None:
        """A private copy of one stream's aggregate (not cached: it is only
        cached once saved), or None."""
        return next(self.reconstruct([aggregate_id]))[1]

    def read_many(self, kind: type[A], ids: Iterable[UUID]) -> list[A]:
        """Private copies of those of these streams that hold a ``kind``."""
        unique = list(dict.fromkeys(ids))
        return [a for _, a in self.reconstruct(unique) if isinstance(a, kind)]

    def load(
        self, ids: Iterable[UUID], replayed: set[UUID] | None = None
    ) -> dict[UUID, Aggregate | None]:
        """The aggregates, from the cache or replayed from the store (their
        ids added to ``replayed``); None for streams that do not exist."""
        cache = self.cache
        found: dict[UUID, Aggregate | None] = {}
        missing: list[UUID] = []
        for aggregate_id in ids:
            try:
                found[aggregate_id] = cache.get(aggregate_id)
            except KeyError:
                missing.append(aggregate_id)
        for aggregate_id, aggregate in self.reconstruct(missing):
            found[aggregate_id] = aggregate
            if replayed is not None:
                replayed.add(aggregate_id)
            if aggregate is not None:
                cache.put(aggregate_id, aggregate)
        return found

    def reconstruct(self, ids: list[UUID]) -> Iterator[tuple[UUID, Aggregate | None]]:
        if not ids:
            return
        recorder = self.app.recorder
        if not isinstance(recorder, MultiStreamReader):
            for aggregate_id in ids:
                yield aggregate_id, replay(self.app.events.get(aggregate_id))
            return
        found: set[UUID] = set()
        unreadable: list[UUID] = []  # state rows of a format this code cannot read
        stored = recorder.select_latest_many(ids)
        to_domain_event = self.app.mapper.to_domain_event
        for originator_id, group in itertools.groupby(stored, key=lambda s: s.originator_id):
            aggregate_id = _uuid(originator_id)
            found.add(aggregate_id)
            aggregate: Any = None
            for item in group:
                if isinstance(item, StoredState):
                    aggregate = self.states.decode(item.format, item.state)
                    if aggregate is None:
                        unreadable.append(aggregate_id)
                        break
                else:
                    aggregate = to_domain_event(item).mutate(aggregate)
            else:
                yield aggregate_id, aggregate
        if unreadable:
            stored = recorder.select_events_many(unreadable)
            for originator_id, group in itertools.groupby(stored, key=lambda s: s.originator_id):
                yield _uuid(originator_id), replay(map(to_domain_event, group))
        for aggregate_id in ids:
            if aggregate_id not in found:
                yield aggregate_id, None

    # -- the cache ---------------------------------------------------------------

    def evict_stale(self, ids: Sequence[UUID]) -> None:
        """Drop cached aggregates another process has written since."""
        cache = self.cache
        recorder = self.app.recorder
        if not isinstance(recorder, MultiStreamReader):
            return
        cached: dict[UUID, int] = {}
        for aggregate_id in ids:
            try:
                cached[aggregate_id] = cache.get(aggregate_id).version
            except KeyError:
                pass
        if cached:
            stored = recorder.select_versions(list(cached))
            self.evict(i for i, version in cached.items() if stored.get(i) != version)

    def evict(self, ids: Iterable[UUID]) -> None:
        cache = self.cache
        for aggregate_id in ids:
            try:
                cache.get(aggregate_id, evict=True)
            except KeyError:
                pass

    def _restore(self, before: dict[UUID, ShipmentState], ids: Sequence[UUID]) -> None:
        """Put back the shipments as they were before a failed save."""
        self.evict(ids)
        cache = self.cache
        if len(ids) == 1:
            return  # one aggregate: reloading it is as cheap
        for shipment_id, state in before.items():
            cache.put(shipment_id, Shipment.from_state(state))


def replay(events: Iterable[Any]) -> Any:
    """Project events into their aggregate (None for none). The library's
    project_aggregate does the same, with an isinstance check against a
    protocol per event that took half the time of loading a shipment."""
    aggregate: Any = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def last_position(recordings: Sequence[Recording[Any]]) -> int | None:
    """The log position of the last event recorded (None when nothing was)."""
    return max((r.notification.id for r in recordings), default=None)


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
