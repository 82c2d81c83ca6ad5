"""Keeps every read model's view up to date: reads the application's
notification log in batches from the position of the view furthest behind,
gives each projection the events its view has not processed, and waits for
new events between batches. It also rebuilds views (all, or the ones named)
and flags shipments that have been quiet too long (STALLED).

Why not the eventsourcing library's ``ProjectionRunner`` and ``Projection``:
those process one event per transaction (``process_event(event, tracking)``,
the view recording a tracking row with each). Here a projection takes a
batch of the log, hundreds of events in one transaction, loading the state
of the aggregates it touches in one query and writing each one's rows once;
a rebuild goes further, replaying whole streams at a time. On PostgreSQL,
batches of 500 replayed a log of 3,300 events at about 2,700 events/s,
batches of one at 46 (each a transaction per read model), and the
stream-by-stream rebuild goes 5-6x faster than batches of 500
(bench/rebuild.py).

Waking up: in the same process, the application says when it saved;
across processes, PostgreSQL's LISTEN/NOTIFY on the channel the event store
notifies; SQLite has neither across processes, so the runner also polls.

Lanes: in the background the shipments view (what GET /track, the tracking
page and its live stream read) is kept by a thread of its own, the other
read models by another, each reading the log from its own views' position
in batches as ever. A batch of the shipments view took its turn behind the
outbox's and the ETA history's work on the same batch (a run_once of 10 scans
~200 ms on a loaded machine, most of it theirs), so a scan reached the live
stream after one to two of those rounds (bench/pages.py, p99 1.9 s).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import psycopg
import psycopg_pool
from eventsourcing import persistence as es_persistence
from eventsourcing.persistence import StoredEvent

from projections import shipments
from projections.readmodel import BatchProjection, ViewConflict, Views
from tracking.application import ShipmentService
from tracking.eta.model import ETA_MODEL_ID

log = logging.getLogger(__name__)

# Errors a database gives while it restarts or cuts connections: the runner
# waits and goes on (anything else stops it, and /readyz says so).
TRANSIENT: tuple[type[BaseException], ...] = (
    es_persistence.OperationalError,
    es_persistence.InterfaceError,
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
    sqlite3.OperationalError,
)

# How many aggregates' streams a rebuild loads and writes at a time.
REBUILD_CHUNK = 1000
# The batch of log positions a rebuild replays in order (into read models that
# need the log's order, the outbox): the fewer batches, the fewer times each
# shipment's state is loaded, decoded and written again (5,000: 1.4x batches of 500).
REBUILD_BATCH = 5000
# The read models kept by a background thread of their own (``lanes``).
LIVE: tuple[str, ...] = (shipments.READ_MODEL.name,)


@runtime_checkable
class StreamReader(Protocol):
    """A recorder that lists the streams in the log and reads many at once."""

    def select_originator_ids(self, upto: int) -> list[UUID]:
        """Every aggregate with an event at or before log position ``upto``."""

    def select_events_many(self, originator_ids: Sequence[UUID]) -> Sequence[StoredEvent]:
        """Their events, ordered by originator id, then version."""


class ReadModelRunner:
    def __init__(
        self,
        app: ShipmentService,
        views: Views,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.25,
        stall_after: timedelta = timedelta(hours=72),
        stall_check_interval: float = 60.0,
        listener: Any = None,
        lease: Any = None,
    ) -> None:
        self.app = app
        self.views = views
        self.projections: dict[str, BatchProjection[Any]] = {
            model.name: model.projection(view) for model, view in views
        }
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.stall_after = stall_after
        self.stall_check_interval = stall_check_interval
        self.listener = listener  # an object with wait(timeout) -> None, e.g. PostgresListener
        # an object with held() -> the read models' names this runner may work on
        # now (projections.lease: one runner at a time per read model); None: all
        self.lease = lease
        # a projection works on one batch at a time (taken in this order: no deadlock)
        self._locks = {name: threading.Lock() for name in self.projections}
        live = [n for n in self.projections if n in LIVE]
        self.lanes = [lane for lane in (live, [n for n in self.projections if n not in live])
                      if lane]
        self._wakes = [threading.Event() for _ in self.lanes]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_stall_check = 0.0
        self.error: BaseException | None = None

    # -- processing --------------------------------------------------------------

    @contextlib.contextmanager
    def _holding(self, names: Sequence[str]) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for name, lock in self._locks.items():
                if name in names:
                    stack.enter_context(lock)
            yield

    def run_once(self, names: Sequence[str] | None = None) -> int:
        """Process one batch from where the views furthest behind are (of the
        read models ``names``; None: all); the number of events read."""
        chosen = list(self.projections) if names is None else names
        with self._holding(chosen):
            mine = {name: self.projections[name] for name in chosen}
            if self.lease is not None:  # another runner works on the others
                held = self.lease.held()
                mine = {name: p for name, p in mine.items() if name in held}
                if not mine:
                    return 0
            at = {name: p.view.position() for name, p in mine.items()}
            after = min(at.values(), default=self.app.position())
            notifications = self.app.recorder.select_notifications(
                start=after + 1, limit=self.batch_size
            )
            if not notifications:
                return 0
            batch = [(self.app.mapper.to_domain_event(n), n.id) for n in notifications]
            for name, projection in mine.items():
                events = batch if at[name] == after else [b for b in batch if b[1] > at[name]]
                try:
                    projection.process_batch(events, after=at[name])
                except ViewConflict:
                    log.info("another runner moved the %s view on; going on from there", name)
            return len(notifications)

    def catch_up(self) -> int:
        """Process until the views have reached the end of the log."""
        total = 0
        while (n := self.run_once()) > 0:
            total += n
        return total

    def rebuild(self, names: Sequence[str] | None = None) -> int:
        """Empty the views of the read models named (all when None) and build
        them again from the whole log; the number of log positions covered.

        Stream by stream where the event store can list them: each
        aggregate's events are replayed in one go and its rows written once,
        instead of every batch of the interleaved log reloading and
        rewriting the aggregates it touches. The views stay at position 0
        until every stream up to the log's end is in, then move there at
        once; a rebuild that dies half-way leaves views that a runner
        completes by replaying the log (what is already applied is skipped).
        """
        unknown = [n for n in names or () if n not in self.projections]
        if unknown:
            raise ValueError(f"no read model {', '.join(unknown)} (there are "
                             f"{', '.join(self.projections)})")
        chosen = [self.projections[n] for n in names or self.projections]
        upto = 0
        with self._holding(list(self.projections)):
            for projection in chosen:
                projection.view.reset()
            if isinstance(self.app.recorder, StreamReader):
                upto = self.app.position()
                self._replay_streams(self.app.recorder, chosen, upto)
        batch_size, self.batch_size = self.batch_size, max(self.batch_size, REBUILD_BATCH)
        try:
            self.catch_up()
        finally:
            self.batch_size = batch_size
        # The position reached (a read model that replays the log in order, as
        # the outbox does, is caught up from 0 by catch_up, not by the streams).
        return min((p.view.position() for p in chosen), default=upto)

    def _replay_streams(
        self, recorder: StreamReader, chosen: list[BatchProjection[Any]], upto: int
    ) -> None:
        ids = recorder.select_originator_ids(upto)
        chunks = [ids[start : start + REBUILD_CHUNK] for start in range(0, len(ids), REBUILD_CHUNK)]
        if ETA_MODEL_ID in ids:
            # The ETA models' stream alone, first: views derive every ETA with
            # the model in force when its event was recorded (projections.etamodels).
            chunks = [[ETA_MODEL_ID], *([i for i in chunk if i != ETA_MODEL_ID] for chunk in chunks)]
        to_event = self.app.mapper.to_domain_event
        for chunk in filter(None, chunks):
            stored = recorder.select_events_many(chunk)
            streams = [
                [to_event(s) for s in group]
                for _, group in itertools.groupby(stored, key=lambda s: s.originator_id)
            ]
            for projection in list(chosen):
                try:
                    projection.replay_streams(streams, at=0)
                except ViewConflict:
                    chosen.remove(projection)
                    log.info("another runner is bringing the %s view up; going on from there",
                             projection.view.name)
        for projection in chosen:
            with contextlib.suppress(ViewConflict):  # as above: another runner has it
                projection.advance(after=0, position=upto)

    def check_stalled(self) -> list[str]:
        """Flag shipments with no scan for longer than ``stall_after`` (asking
        the shipments read model, when this runner keeps it)."""
        view = self.views.get(shipments.READ_MODEL)
        if view is None or (self.lease is not None
                            and shipments.READ_MODEL.name not in self.lease.held()):
            return []  # the runner that holds the shipments view flags them
        before = self.app.clock() - self.stall_after
        flagged: list[str] = []
        while quiet := view.quiet_since(before, limit=500):
            flagged += self.app.shipments.flag_stalled(quiet, self.stall_after)
            self.catch_up()  # so the next query no longer finds them
            if len(quiet) < 500:
                break
        return flagged

    # -- running in the background ---------------------------------------------

    def _forever(self, step: Any, what: str) -> None:
        """``step()`` until stopped; a database that does not answer is waited
        for, slower each time; anything else stops the runner (/readyz says so)."""
        backoff = 0.0
        try:
            while not self._stop.is_set() and self.error is None:
                try:
                    step()
                    backoff = 0.0
                except TRANSIENT as e:
                    # The database went away or cut our connection: nothing
                    # was committed that is not whole; try again, slower.
                    backoff = min(max(backoff * 2, 0.1), 5.0)
                    log.warning("%s does not answer (%s); again in %.1f s", what, e, backoff)
                    self._stop.wait(backoff)
        except BaseException as e:
            self.error = e
            log.exception("projection runner stopped")
            raise

    def _lane(self, lane: list[str], wake: threading.Event, flags_stalled: bool) -> None:
        if flags_stalled and time.monotonic() >= self._next_stall_check:
            self._next_stall_check = time.monotonic() + self.stall_check_interval
            self.check_stalled()
        wake.clear()  # before reading: a save from now on wakes the next wait
        if self.run_once(lane) == 0:
            wake.wait(self.poll_interval)

    def _listen(self) -> None:
        """Wakes every lane when the log has moved on (one listener for all;
        the lanes poll meanwhile if it fails)."""
        if self.listener is not None:
            told = self.listener.wait(self.poll_interval) is not None
        else:
            told = self.app.saved.wait(self.poll_interval)
            self.app.saved.clear()
        if told:
            for wake in self._wakes:
                wake.set()

    def start(self) -> ReadModelRunner:
        last = len(self.lanes) - 1  # the stalled shipments flagged there, not in the live lane
        self._threads = [
            threading.Thread(target=self._forever, daemon=True,
                             name="projection-runner" + (f"-{i + 1}" if i else ""),
                             args=(functools.partial(self._lane, lane, wake, i == last),
                                   "the views' database"))
            for i, (lane, wake) in enumerate(zip(self.lanes, self._wakes, strict=True))
        ]
        self._threads.append(threading.Thread(
            target=self._forever, args=(self._listen, "the event store's notifications"),
            name="projection-listener", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.app.saved.set()
        for wake in self._wakes:
            wake.set()
        for t in self._threads:
            t.join(timeout)  # a listener's wait ends within poll_interval
        if self.listener is not None:
            with contextlib.suppress(Exception):
                self.listener.close()
        if self.lease is not None:
            self.lease.close()

    @property
    def running(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)
