"""The shipments read model: each shipment's documents (the customer's
tracking view and the agent's full view), with what carrier polling and
stall detection ask of them, and the exceptions raised and cleared.

The projection keeps a replica of each shipment's state and applies the
events to it one at a time through the aggregate's own ``apply``, judging
exceptions after each, so what it writes does not depend on how events are
batched: a rebuild from the whole log equals the incrementally built views.
The exceptions are part of this read model, not one of their own, because
the agent's view carries the open ones with when each was raised: judged
once, in the same pass.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod

from projections import etamodels
from projections import exceptions as exception_queue
from projections import inbound
from projections.etamodels import EtaModels, MemoryModels, SqlModels
from projections.exceptions import (
    CaseUpdate, ExceptionRow, MemoryQueue, Queue, casework_update, closed_by)
from projections.readmodel import BatchProjection, MemoryView, ReadModel, View
from projections.sql import SqlView, Writer, upsert
from projections.views import OpenException, ProjectedShipment, both_views
from projections.working import Working, restore
from tracking.casework import ExceptionResolved, ExceptionWorked
from tracking.eta.model import LaneModel
from tracking.eta.window import ShownEta
from tracking.exceptions import open_exceptions
from tracking.inbound import Sums, add, difference
from tracking.mapper import enc_hook
from tracking.shipment import Shipment

_encoder = msgspec.json.Encoder(enc_hook=enc_hook)


class StatusRow(msgspec.Struct, kw_only=True):
    """One shipment. ``projected`` is the state the projection goes on from;
    the views are ready-encoded JSON documents, None until it is booked.
    ``unfinished`` and ``may_stall`` are the domain's answers, kept to be
    searched on."""

    shipment_id: UUID
    tracking_number: str
    booked: bool
    status: str | None
    unfinished: bool
    may_stall: bool
    last_activity_at: datetime
    position: int
    projected: bytes
    public_view: bytes | None
    full_view: bytes | None


class ShipmentChanges(NamedTuple):
    rows: list[StatusRow]
    raised: list[ExceptionRow]
    updates: list[CaseUpdate]  # closed (by an event or an agent) and casework
    models: list[LaneModel] = []  # ETA models published in the batch
    fresh: bool = False  # a rebuild's: every row new, each shipment's whole stream in the batch
    inbound: Sums = {}  # what to add to the inbound sums (projections.inbound)


class ShipmentsProjection(BatchProjection["ShipmentsView"]):
    def __init__(self, view: ShipmentsView) -> None:
        super().__init__(view)
        self._eta = EtaModels()

    def begin(self, events: Sequence[Any], *, fresh: bool) -> None:
        self._eta.begin(self.view.eta_models.since, fresh=fresh, events=events)
        self._fresh = fresh
        self._touched: dict[UUID, Working] = {}
        self._raised: list[ExceptionRow] = []
        self._updates: list[CaseUpdate] = []
        ids = [] if fresh else list({e.originator_id for e in events
                                     if isinstance(e, Shipment.Event)})
        self._working = {sid: restore(doc) for sid, doc in self.view.projected(ids).items()}

    @singledispatchmethod
    def process_event(self, event: Any, position: int) -> None:
        """Another aggregate's event: not this read model's concern."""

    @process_event.register
    def _shipment_event(self, event: Shipment.Event, position: int) -> None:
        current = self._working.get(event.originator_id)
        if current is not None and event.originator_version <= current.shipment.version:
            return  # already applied
        shipment = event.mutate(current.shipment if current else None)
        assert isinstance(shipment, Shipment)
        if current is None:
            current = self._working[shipment.id] = Working(shipment, {}, position)
        current.shipment, current.position = shipment, position
        self._touched[shipment.id] = current
        if shipment.is_booked:
            self._judge(current, event)
            if isinstance(event, ExceptionWorked):
                self._work(current, event)

    def changes(self) -> ShipmentChanges:
        # The ETA after the last event, once per batch (nothing else but the state decides it).
        rows, sums = [], {}
        for w in self._touched.values():
            shown = self._eta.latest(w.shipment, w.delivery)
            part = inbound.part_of(w.shipment, w.delivery, shown)
            if part != w.inbound:  # most events move no quantity to another day
                add(sums, difference(w.inbound, part))
                w.inbound = part
            rows.append(_row(w, shown))
        return ShipmentChanges(rows, self._raised, self._updates, self._eta.added, self._fresh,
                               sums)

    def _work(self, w: Working, event: ExceptionWorked) -> None:
        """An agent's casework, on the open exception of its kind (none open:
        it was resolved already, and the event stays in the history only)."""
        was = w.open.get(event.kind)
        if was is None:
            return
        key = (str(w.shipment.tracking_number), event.kind.value, was.raised_at)
        self._updates.append(casework_update(event, key))
        if isinstance(event, ExceptionResolved):
            del w.open[event.kind]
            w.resolved.add(event.kind)

    def _judge(self, w: Working, event: Any) -> None:
        """Open and close exceptions as they stand after this event."""
        w.delivery = w.shipment.delivery()
        found = open_exceptions(w.shipment, w.delivery)
        at = event.timestamp
        tn = str(w.shipment.tracking_number)
        for kind in [k for k in w.open if k not in found]:
            was = w.open.pop(kind)
            self._updates.append(CaseUpdate((tn, kind.value, was.raised_at), closed_by(event, at)))
        w.resolved &= found.keys()  # a condition that ended: if it comes back, it is new
        booking = w.shipment.require_booked()
        for kind, details in found.items():
            if kind not in w.open and kind not in w.resolved:
                w.open[kind] = OpenException(kind=kind, raised_at=at, details=details)
                self._raised.append(ExceptionRow(
                    tracking_number=tn, kind=kind, raised_at=at, details=details,
                    carrier=booking.carrier, origin=str(booking.origin),
                    destination=str(w.shipment.destination)))


def _row(w: Working, shown: ShownEta | None) -> StatusRow:
    s = w.shipment
    projected = _encoder.encode(ProjectedShipment(state=s.state(), open=w.open,
                                                  resolved=sorted(w.resolved),
                                                  inbound=inbound.encode(w.inbound)))
    public = full = status = None
    unfinished = may_stall = False
    if s.is_booked:
        delivery = w.delivery or s.delivery()
        status = delivery.status.value
        unfinished, may_stall = s.is_unfinished(delivery), s.may_stall(delivery)
        views = both_views(s, delivery, list(w.open.values()), shown)
        public, full = _encoder.encode(views[0]), _encoder.encode(views[1])
    return StatusRow(
        shipment_id=s.id, tracking_number=str(s.tracking_number), booked=s.is_booked,
        status=status, unfinished=unfinished, may_stall=may_stall,
        last_activity_at=s.last_activity_at, position=w.position, projected=projected,
        public_view=public, full_view=full,
    )


class ShipmentsView(View[ShipmentChanges]):
    @abstractmethod
    def projected(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """The projection's state of each of these shipments it has seen."""

    eta_models: MemoryModels | SqlModels  # the ETA models it has seen published
    inbound_sums: inbound.MemorySums | inbound.SqlSums  # per warehouse, SKU and day

    @abstractmethod
    def public_view(self, shipment_id: UUID) -> bytes | None: ...

    async def public_view_async(self, shipment_id: UUID) -> bytes | None:
        """``public_view`` for an event loop, without blocking it."""
        return await asyncio.to_thread(self.public_view, shipment_id)

    @abstractmethod
    def public_views_since(
        self, after: int, shipment_ids: Collection[UUID]
    ) -> list[tuple[UUID, int, bytes]]:
        """(shipment id, row position, public view) of those of these booked
        shipments whose row has moved past log position ``after``: what the
        live streams send (adapters/live.py), each tagged with the position
        it is as of."""

    @abstractmethod
    def full_view(self, shipment_id: UUID) -> bytes | None: ...

    @abstractmethod
    def exceptions(
        self, *, state: str | None, kind: str | None, limit: int, offset: int,
        queue: Queue = Queue(),
    ) -> list[ExceptionRow]:
        """Exceptions, oldest raised first; ``state`` is "open", "closed" or None (all)."""

    @abstractmethod
    def exception_counts(self, *, state: str | None, queue: Queue = Queue()) -> dict[str, int]:
        """How many exceptions of each kind (those with none left out)."""

    @abstractmethod
    def unfinished(self, limit: int) -> list[str]:
        """Tracking numbers of unfinished shipments, longest unheard of first
        (what carrier polling asks about)."""

    @abstractmethod
    def quiet_since(self, before: datetime, limit: int) -> list[str]:
        """Tracking numbers of shipments that may stall, last heard of before ``before``."""


class MemoryShipmentsView(MemoryView[ShipmentChanges], ShipmentsView):
    def _clear(self) -> None:
        self._rows: dict[UUID, StatusRow] = {}
        self._queue = MemoryQueue()
        self.eta_models = MemoryModels()
        self.inbound_sums = inbound.MemorySums()

    def _write(self, changes: ShipmentChanges) -> None:
        self.eta_models.write(changes.models)
        for row in changes.rows:
            self._rows[row.shipment_id] = row
        self._queue.write(changes.raised, changes.updates)
        self.inbound_sums.write(changes.inbound)

    def projected(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        with self._lock:
            return {i: self._rows[i].projected for i in shipment_ids if i in self._rows}

    def public_view(self, shipment_id: UUID) -> bytes | None:
        row = self._rows.get(shipment_id)
        return row.public_view if row else None

    def public_views_since(
        self, after: int, shipment_ids: Collection[UUID]
    ) -> list[tuple[UUID, int, bytes]]:
        with self._lock:
            rows = [self._rows.get(i) for i in shipment_ids]
        return [(r.shipment_id, r.position, r.public_view) for r in rows
                if r is not None and r.public_view is not None and r.position > after]

    def full_view(self, shipment_id: UUID) -> bytes | None:
        row = self._rows.get(shipment_id)
        return row.full_view if row else None

    def exceptions(
        self, *, state: str | None, kind: str | None, limit: int, offset: int,
        queue: Queue = Queue(),
    ) -> list[ExceptionRow]:
        with self._lock:
            return self._queue.select(state=state, kind=kind, limit=limit, offset=offset,
                                      queue=queue)

    def exception_counts(self, *, state: str | None, queue: Queue = Queue()) -> dict[str, int]:
        with self._lock:
            return self._queue.count(state=state, queue=queue)

    def unfinished(self, limit: int) -> list[str]:
        with self._lock:
            rows = sorted((r for r in self._rows.values() if r.unfinished),
                          key=lambda r: r.last_activity_at)
        return [r.tracking_number for r in rows[:limit]]

    def quiet_since(self, before: datetime, limit: int) -> list[str]:
        with self._lock:
            quiet = sorted((r for r in self._rows.values()
                            if r.may_stall and r.last_activity_at < before),
                           key=lambda r: r.last_activity_at)
        return [r.tracking_number for r in quiet[:limit]]


_COLUMNS = ("shipment_id", "tracking_number", "booked", "status", "unfinished", "may_stall",
            "last_activity_at", "position", "projected", "public_view", "full_view")
_UPSERT = upsert("shipment_views", _COLUMNS, _COLUMNS[2:])
_PUBLIC_VIEW = "SELECT public_view FROM shipment_views WHERE shipment_id = ?"


class SqlShipmentsView(SqlView[ShipmentChanges], ShipmentsView):
    tables = {
        "shipment_views": (
            "shipment_id {uuid} PRIMARY KEY, tracking_number {text} NOT NULL UNIQUE, "
            "booked {bool} NOT NULL, status {text}, unfinished {bool} NOT NULL, "
            "may_stall {bool} NOT NULL, last_activity_at {time} NOT NULL, "
            "position {int} NOT NULL, projected {bytes} NOT NULL, public_view {bytes}, "
            "full_view {bytes}"
        ),
        **exception_queue.TABLES,
        **etamodels.table("shipment_eta_models"),
        **inbound.TABLES,
    }
    indexes = (
        "CREATE INDEX IF NOT EXISTS shipment_views_quiet ON shipment_views (last_activity_at) "
        "WHERE may_stall",
        *exception_queue.INDEXES,
        *inbound.INDEXES,
    )

    def commit(self, changes: ShipmentChanges, *, after: int, position: int) -> None:
        with self.db.commit(self.name, after=after, position=position) as w:
            self._write(w, changes)
            # Delivered as the rows commit: the live streams' watcher wakes on it.
            self.db.notify(w, str(position))

    @property
    def eta_models(self) -> SqlModels:  # type: ignore[override]
        return SqlModels(self.db, "shipment_eta_models")

    @property
    def inbound_sums(self) -> inbound.SqlSums:  # type: ignore[override]
        return inbound.SqlSums(self.db)

    def _write(self, w: Writer, changes: ShipmentChanges) -> None:
        self.eta_models.write(w, changes.models)
        key, time = self.db.key, self.db.time
        rows = [
            (key(r.shipment_id), r.tracking_number, r.booked, r.status, r.unfinished,
             r.may_stall, time(r.last_activity_at), r.position, r.projected, r.public_view,
             r.full_view)
            for r in changes.rows
        ]
        if changes.fresh:  # a rebuild's rows, into the emptied view: COPY on PostgreSQL
            self.db.copy(w, "shipment_views", _COLUMNS, rows)
        else:
            w.executemany(_UPSERT, rows)
        exception_queue.write(self.db, w, changes.raised, changes.updates, fresh=changes.fresh)
        inbound.SqlSums.write(w, changes.inbound)

    def projected(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        if not shipment_ids:
            return {}
        rows = self.db.select_keys(
            "SELECT shipment_id, projected FROM shipment_views WHERE shipment_id {keys}",
            shipment_ids)
        return {self.db.read_key(sid): doc for sid, doc in rows}

    def public_view(self, shipment_id: UUID) -> bytes | None:
        found = self.db.query_one(_PUBLIC_VIEW, (self.db.key(shipment_id),))
        return found[0] if found else None

    async def public_view_async(self, shipment_id: UUID) -> bytes | None:
        found = await self.db.query_one_async(_PUBLIC_VIEW, (self.db.key(shipment_id),))
        return found[0] if found else None

    def public_views_since(
        self, after: int, shipment_ids: Collection[UUID]
    ) -> list[tuple[UUID, int, bytes]]:
        if not shipment_ids:
            return []
        rows = self.db.select_keys(
            "SELECT shipment_id, position, public_view FROM shipment_views "
            "WHERE shipment_id {keys} AND position > ? AND public_view IS NOT NULL",
            list(shipment_ids), (after,))
        return [(self.db.read_key(sid), at, bytes(view)) for sid, at, view in rows]

    def full_view(self, shipment_id: UUID) -> bytes | None:
        found = self.db.query_one("SELECT full_view FROM shipment_views WHERE shipment_id = ?",
                                  (self.db.key(shipment_id),))
        return found[0] if found else None

    def exceptions(
        self, *, state: str | None, kind: str | None, limit: int, offset: int,
        queue: Queue = Queue(),
    ) -> list[ExceptionRow]:
        return exception_queue.select(self.db, state=state, kind=kind, limit=limit,
                                      offset=offset, queue=queue)

    def exception_counts(self, *, state: str | None, queue: Queue = Queue()) -> dict[str, int]:
        return exception_queue.count(self.db, state=state, queue=queue)

    def unfinished(self, limit: int) -> list[str]:
        rows = self.db.query("SELECT tracking_number FROM shipment_views WHERE unfinished "
                             "ORDER BY last_activity_at LIMIT ?", (limit,))
        return [r[0] for r in rows]

    def quiet_since(self, before: datetime, limit: int) -> list[str]:
        rows = self.db.query(
            "SELECT tracking_number FROM shipment_views WHERE may_stall "
            "AND last_activity_at < ? ORDER BY last_activity_at LIMIT ?",
            (self.db.time(before), limit),
        )
        return [r[0] for r in rows]


READ_MODEL = ReadModel("shipments", ShipmentsProjection, memory=MemoryShipmentsView,
                       sql=SqlShipmentsView)
