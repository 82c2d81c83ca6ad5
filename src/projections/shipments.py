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
from projections.etamodels import EtaModels, MemoryModels
from projections.readmodel import BatchProjection, MemoryView, ReadModel, View
from projections.sql import SqlView, Writer
from projections.views import OpenException, ProjectedShipment, shipment_view, tracking_view
from tracking.delivery import Delivery
from tracking.eta.model import EtaModel, LaneModel
from tracking.eta.window import ShownEta
from tracking.exceptions import ExceptionKind, open_exceptions
from tracking.mapper import dec_hook, enc_hook
from tracking.shipment import Shipment
from tracking.validation import loading_recorded

_encoder = msgspec.json.Encoder(enc_hook=enc_hook)
_projected = msgspec.json.Decoder(ProjectedShipment, dec_hook=dec_hook)


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


class ExceptionRow(msgspec.Struct, kw_only=True):
    """One exception: raised, and cleared (or still open)."""

    tracking_number: str
    kind: ExceptionKind
    raised_at: datetime
    details: str
    cleared_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str, datetime]:
        return (self.tracking_number, self.kind.value, self.raised_at)


class ShipmentChanges(NamedTuple):
    rows: list[StatusRow]
    raised: list[ExceptionRow]
    cleared: list[ExceptionRow]
    models: list[LaneModel] = []  # ETA models published in the batch


class _Working:
    """One shipment while a batch is being applied."""

    __slots__ = ("shipment", "open", "position", "delivery", "judged_at")

    def __init__(self, shipment: Shipment, open_: dict[Any, OpenException], position: int) -> None:
        self.shipment = shipment
        self.open = open_
        self.position = position
        # Derived after the last event applied (once booked, every event is judged).
        self.delivery: Delivery | None = None
        # When the last event judged was recorded: the ETA is derived with the model
        # in force then, once per batch (it depends on nothing else but the state).
        self.judged_at: datetime | None = None


class ShipmentsProjection(BatchProjection["ShipmentsView"]):
    def __init__(self, view: ShipmentsView) -> None:
        super().__init__(view)
        self._eta = EtaModels()

    def begin(self, events: Sequence[Any], *, fresh: bool) -> None:
        self._eta.begin(self.view.eta_models_since, fresh=fresh)
        self._touched: dict[UUID, _Working] = {}
        self._raised: list[ExceptionRow] = []
        self._cleared: list[ExceptionRow] = []
        ids = [] if fresh else list({e.originator_id for e in events
                                     if isinstance(e, Shipment.Event)})
        self._working = {sid: _restore(doc) for sid, doc in self.view.projected(ids).items()}

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
            current = self._working[shipment.id] = _Working(shipment, {}, position)
        current.shipment, current.position = shipment, position
        self._touched[shipment.id] = current
        if shipment.is_booked:
            self._judge(current, event)

    @process_event.register
    def _eta_model(self, event: EtaModel.Published, position: int) -> None:
        self._eta.published(event)

    def changes(self) -> ShipmentChanges:
        return ShipmentChanges([_row(w, self._shown(w)) for w in self._touched.values()],
                               self._raised, self._cleared, self._eta.added)

    def _shown(self, w: _Working) -> ShownEta | None:
        if w.delivery is None or w.judged_at is None:
            return None
        return self._eta.shown(w.shipment, w.delivery, w.judged_at)

    def _judge(self, w: _Working, event: Any) -> None:
        """Open and close exceptions as they stand after this event."""
        w.delivery = w.shipment.delivery()
        w.judged_at = event.timestamp
        found = open_exceptions(w.shipment, w.delivery)
        at = event.timestamp
        tn = str(w.shipment.tracking_number)
        for kind in [k for k in w.open if k not in found]:
            was = w.open.pop(kind)
            self._cleared.append(ExceptionRow(tracking_number=tn, kind=kind, raised_at=was.raised_at,
                                              details=was.details, cleared_at=at))
        for kind, details in found.items():
            if kind not in w.open:
                w.open[kind] = OpenException(kind=kind, raised_at=at, details=details)
                self._raised.append(ExceptionRow(tracking_number=tn, kind=kind, raised_at=at,
                                                 details=details))


def _restore(doc: bytes) -> _Working:
    with loading_recorded():
        projected = _projected.decode(doc)
    return _Working(Shipment.from_state(projected.state), dict(projected.open), 0)


def _row(w: _Working, shown: ShownEta | None) -> StatusRow:
    s = w.shipment
    projected = _encoder.encode(ProjectedShipment(state=s.state(), open=w.open))
    public = full = status = None
    unfinished = may_stall = False
    if s.is_booked:
        delivery = w.delivery or s.delivery()
        status = delivery.status.value
        unfinished, may_stall = s.is_unfinished(delivery), s.may_stall(delivery)
        public = _encoder.encode(tracking_view(s, delivery, shown))
        full = _encoder.encode(shipment_view(s, delivery, list(w.open.values()), shown))
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

    @abstractmethod
    def eta_models_since(self, version: int) -> list[LaneModel]:
        """The ETA models this view has seen published after that version."""

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
        self, *, state: str | None, kind: str | None, limit: int, offset: int
    ) -> list[ExceptionRow]:
        """Exceptions, oldest raised first; ``state`` is "open", "closed" or None (all)."""

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
        self._exceptions: dict[tuple[str, str, datetime], ExceptionRow] = {}
        self._models = MemoryModels()

    def eta_models_since(self, version: int) -> list[LaneModel]:
        return self._models.since(version)

    def _write(self, changes: ShipmentChanges) -> None:
        self._models.write(changes.models)
        for row in changes.rows:
            self._rows[row.shipment_id] = row
        for exc in changes.raised:
            self._exceptions.setdefault(exc.key, exc)
        for exc in changes.cleared:
            current = self._exceptions.get(exc.key)
            if current is not None and current.cleared_at is None:
                self._exceptions[exc.key] = exc

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
        self, *, state: str | None, kind: str | None, limit: int, offset: int
    ) -> list[ExceptionRow]:
        with self._lock:
            found = [
                e for e in self._exceptions.values()
                if (state is None or (e.cleared_at is None) == (state == "open"))
                and (kind is None or e.kind == kind)
            ]
        found.sort(key=lambda e: (e.raised_at, e.tracking_number, e.kind))
        return found[offset : offset + limit]

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
_UPSERT = (
    f"INSERT INTO shipment_views ({', '.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (shipment_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])
)
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
        "shipment_exceptions": (
            "tracking_number {text} NOT NULL, kind {text} NOT NULL, raised_at {time} NOT NULL, "
            "cleared_at {time}, details {text} NOT NULL, "
            "PRIMARY KEY (tracking_number, kind, raised_at)"
        ),
        **etamodels.table("shipment_eta_models"),
    }
    indexes = (
        "CREATE INDEX IF NOT EXISTS shipment_views_quiet ON shipment_views (last_activity_at) "
        "WHERE may_stall",
        "CREATE INDEX IF NOT EXISTS shipment_exceptions_open ON shipment_exceptions (raised_at) "
        "WHERE cleared_at IS NULL",
    )

    def commit(self, changes: ShipmentChanges, *, after: int, position: int) -> None:
        with self.db.commit(self.name, after=after, position=position) as w:
            self._write(w, changes)
            # Delivered as the rows commit: the live streams' watcher wakes on it.
            self.db.notify(w, str(position))

    def eta_models_since(self, version: int) -> list[LaneModel]:
        return etamodels.since(self.db, "shipment_eta_models", version)

    def _write(self, w: Writer, changes: ShipmentChanges) -> None:
        etamodels.write(w, "shipment_eta_models", changes.models)
        key, time = self.db.key, self.db.time
        w.executemany(_UPSERT, [
            (key(r.shipment_id), r.tracking_number, r.booked, r.status, r.unfinished,
             r.may_stall, time(r.last_activity_at), r.position, r.projected, r.public_view,
             r.full_view)
            for r in changes.rows
        ])
        w.executemany(
            "INSERT INTO shipment_exceptions VALUES (?,?,?,NULL,?) ON CONFLICT DO NOTHING",
            [(e.tracking_number, e.kind.value, time(e.raised_at), e.details)
             for e in changes.raised],
        )
        w.executemany(
            "UPDATE shipment_exceptions SET cleared_at = ? WHERE tracking_number = ? "
            "AND kind = ? AND raised_at = ? AND cleared_at IS NULL",
            [(time(e.cleared_at), e.tracking_number, e.kind.value, time(e.raised_at))
             for e in changes.cleared if e.cleared_at is not None],
        )

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
        self, *, state: str | None, kind: str | None, limit: int, offset: int
    ) -> list[ExceptionRow]:
        clauses = {"open": ["cleared_at IS NULL"], "closed": ["cleared_at IS NOT NULL"]}.get(
            state or "", [])
        if kind is not None:
            clauses.append("kind = ?")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.query(
            "SELECT tracking_number, kind, raised_at, cleared_at, details "  # noqa: S608
            f"FROM shipment_exceptions{where} ORDER BY raised_at, tracking_number, kind "
            "LIMIT ? OFFSET ?",
            [*([kind] if kind is not None else []), limit, offset],
        )
        read_time = self.db.read_time
        return [
            ExceptionRow(tracking_number=tn, kind=ExceptionKind(k), raised_at=read_time(raised),
                         cleared_at=read_time(cleared) if cleared is not None else None,
                         details=details)
            for tn, k, raised, cleared, details in rows
        ]

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
