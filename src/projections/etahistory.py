"""The ETA history read model: every ETA each shipment was shown, and how
good each turned out.

The projection keeps a replica of each shipment (as the shipments read
model does) and, after each of its events, the ETA the tracking view shows
then (``EtaModels.shown``: the same function, with the same model in force,
so both views agree); each change (value, window, source or model version)
is one entry: when it was shown (the event's recorded time), as of when
(``known_at``: the latest scan or customs report it knew of, or for the
booking's, no later than the first planned departure: what a backfilled
history is scored from), and the ETA. Once delivered, each entry is scored
(``tracking.eta.accuracy``) and its scores' tallies (by source) added to
its lane's sums (per account, lane and source), which the accuracy adds up:
an answer reads a row per lane, however many shipments were delivered. A
shipment scored again (a delivery corrected) has its old tally taken out.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod

from projections import etamodels
from projections.etamodels import EtaModels, MemoryModels
from projections.readmodel import BatchProjection, MemoryView, ReadModel, View
from projections.sql import SqlView, Writer, upsert
from tracking.eta.accuracy import SUM_COLUMNS, Scored, Sum, Tally, score, tallies
from tracking.account import DEFAULT_ACCOUNT
from tracking.eta.lanes import Lane, lane_of
from tracking.eta.model import EtaModel, LaneModel
from tracking.eta.window import EtaWindow
from tracking.mapper import enc_hook
from tracking.shipment import Shipment, ShipmentState
from tracking.validation import RecordedDecoder

_encode = msgspec.json.Encoder(enc_hook=enc_hook).encode


class EtaShown(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    shown_at: datetime
    known_at: datetime
    eta: datetime
    eta_window: EtaWindow | None
    model_version: int | None = None


class EtaRecord(msgspec.Struct, kw_only=True):
    """One shipment's ETAs, and what it needs to be scored."""

    tracking_number: str
    lane: Lane
    deliver_by: datetime | None
    delivered_at: datetime | None
    shown: list[EtaShown]
    account: str = DEFAULT_ACCOUNT  # the shipment's: a merchant's accuracy is over its own

    def scored(self) -> list[tuple[EtaShown, Scored]]:
        """Each ETA shown before the delivery, scored against it (none before then)."""
        end = self.delivered_at
        if end is None:
            return []
        found = []
        for s in self.shown:
            if s.known_at >= end:
                continue
            w = s.eta_window
            found.append((s, score(
                self.tracking_number, w.source.value if w else "plan", eta=s.eta,
                earliest=w.earliest if w else None, latest=w.latest if w else None,
                shown_at=s.shown_at if s.shown_at <= end else s.known_at,
                delivered_at=end, deliver_by=self.deliver_by)))
        return found


_records: RecordedDecoder[EtaRecord] = RecordedDecoder(EtaRecord)
_states: RecordedDecoder[ShipmentState] = RecordedDecoder(ShipmentState)


# Where a tally is added up: account, origin, destination, mode, carrier, source.
SumKey = tuple[str, str, str, str, str, str]


class EtaChanges(NamedTuple):
    # Shipment id, its state, its record (None until booked on a route).
    rows: list[tuple[UUID, bytes, EtaRecord | None]]
    models: list[LaneModel]
    sums: dict[SumKey, Sum]  # what to add to each lane's sums (taken-out tallies negative)


class EtaHistoryProjection(BatchProjection["EtaHistoryView"]):
    def __init__(self, view: EtaHistoryView) -> None:
        super().__init__(view)
        self._eta = EtaModels()

    def begin(self, events: Sequence[Any], *, fresh: bool) -> None:
        self._eta.begin(self.view.eta_models_since, fresh=fresh)
        ids = [] if fresh else list({e.originator_id for e in events
                                     if isinstance(e, Shipment.Event)})
        self._working: dict[UUID, tuple[Shipment, EtaRecord | None]] = {}
        self._tallied: dict[UUID, list[tuple[SumKey, Tally]]] = {}  # as added up before
        for sid, (state, record) in self.view.working(ids).items():
            self._working[sid] = (Shipment.from_state(_states.decode(state)), record)
            self._tallied[sid] = _keyed(record)
        self._touched: set[UUID] = set()

    @singledispatchmethod
    def process_event(self, event: Any, position: int) -> None:
        """Another aggregate's event: not this read model's concern."""

    @process_event.register
    def _eta_model(self, event: EtaModel.Published, position: int) -> None:
        self._eta.published(event)

    @process_event.register
    def _shipment_event(self, event: Shipment.Event, position: int) -> None:
        current = self._working.get(event.originator_id)
        if current is not None and event.originator_version <= current[0].version:
            return  # already applied
        shipment = event.mutate(current[0] if current else None)
        assert isinstance(shipment, Shipment)
        record = current[1] if current else None
        self._touched.add(shipment.id)
        self._working[shipment.id] = (shipment, record)
        lane = lane_of(shipment) if shipment.is_booked else None
        if lane is None:
            return
        booking = shipment.require_booked()
        delivery = shipment.delivery()
        if record is None:
            record = EtaRecord(tracking_number=str(shipment.tracking_number), lane=lane,
                               deliver_by=booking.deliver_by, delivered_at=None, shown=[],
                               account=booking.account)
            self._working[shipment.id] = (shipment, record)
        record.lane, record.deliver_by, record.account = lane, booking.deliver_by, booking.account
        record.delivered_at = delivery.delivered_at
        if delivery.delivered_at is not None:
            return
        shown = self._eta.shown(shipment, delivery, event.timestamp)
        if shown.eta is None:
            return
        last = record.shown[-1] if record.shown else None
        if last is not None and (last.eta, last.eta_window, last.model_version) == (
                shown.eta, shown.window, shown.model_version):
            return
        record.shown.append(EtaShown(
            shown_at=event.timestamp, known_at=_known_at(shipment, event.timestamp),
            eta=shown.eta, eta_window=shown.window, model_version=shown.model_version))

    def changes(self) -> EtaChanges:
        rows = []
        sums: dict[SumKey, Sum] = {}
        for sid in self._touched:
            shipment, record = self._working[sid]
            rows.append((sid, _encode(shipment.state()), record))
            before, now = self._tallied.get(sid, []), _keyed(record)
            if before == now:
                continue
            for sign, keyed in ((-1, before), (1, now)):
                for key, tally in keyed:
                    sums.setdefault(key, Sum()).add(tally, sign)
        return EtaChanges(rows, self._eta.added, sums)


def _keyed(record: EtaRecord | None) -> list[tuple[SumKey, Tally]]:
    """A delivered shipment's tallies, each with where it is added up."""
    if record is None or record.delivered_at is None:
        return []
    lane = record.lane
    where = (record.account or DEFAULT_ACCOUNT, lane.origin, lane.destination, lane.mode.value,
             lane.carrier)
    return [((*where, t.source), t) for t in tallies([sc for _, sc in record.scored()])]


def _known_at(shipment: Shipment, recorded: datetime) -> datetime:
    times = [s.occurred_at for s in shipment.counted_scans()]
    times += [m.occurred_at for m in shipment.counted_customs() if m.status.value != "DECLARED"]
    if times:
        return min(max(times), recorded)
    return min(recorded, shipment.route.legs[0].departs_at) if shipment.route.legs else recorded


class EtaHistoryView(View[EtaChanges]):
    @abstractmethod
    def eta_models_since(self, version: int) -> list[LaneModel]: ...

    @abstractmethod
    def working(self, shipment_ids: Sequence[UUID]) -> dict[UUID, tuple[bytes, EtaRecord | None]]:
        """The projection's state of each of these shipments, and its record."""

    @abstractmethod
    def record(self, tracking_number: str) -> EtaRecord | None: ...

    @abstractmethod
    def sums(self, *, origin: str | None, destination: str | None, mode: str | None,
             carrier: str | None, account: str | None = None) -> dict[str, Sum]:
        """By source: the sums of the tallies of the delivered shipments on
        lanes matching these (of one account's shipments, when given)."""


class MemoryEtaHistoryView(MemoryView[EtaChanges], EtaHistoryView):
    def _clear(self) -> None:
        self._rows: dict[UUID, tuple[bytes, EtaRecord | None]] = {}
        self._sums: dict[SumKey, Sum] = {}
        self._numbers: dict[str, UUID] = {}
        self._models = MemoryModels()

    def _write(self, changes: EtaChanges) -> None:
        self._models.write(changes.models)
        for sid, state, record in changes.rows:
            self._rows[sid] = (state, _copy(record))
            if record is not None:
                self._numbers[record.tracking_number] = sid
        for key, delta in changes.sums.items():
            self._sums.setdefault(key, Sum()).merge(delta)

    def eta_models_since(self, version: int) -> list[LaneModel]:
        return self._models.since(version)

    def working(self, shipment_ids: Sequence[UUID]) -> dict[UUID, tuple[bytes, EtaRecord | None]]:
        with self._lock:
            return {i: (self._rows[i][0], _copy(self._rows[i][1]))
                    for i in shipment_ids if i in self._rows}

    def record(self, tracking_number: str) -> EtaRecord | None:
        sid = self._numbers.get(tracking_number)
        return self._rows[sid][1] if sid is not None else None

    def sums(self, *, origin: str | None, destination: str | None, mode: str | None,
             carrier: str | None, account: str | None = None) -> dict[str, Sum]:
        wanted = (account, origin, destination, mode, carrier)
        found: dict[str, Sum] = {}
        with self._lock:
            for key, each in self._sums.items():
                if all(w is None or w == k for w, k in zip(wanted, key, strict=False)):
                    found.setdefault(key[5], Sum()).merge(each)
        return found


def _copy(record: EtaRecord | None) -> EtaRecord | None:
    """A record of its own: the projection goes on changing the one it has."""
    return None if record is None else msgspec.structs.replace(record, shown=list(record.shown))


_COLUMNS = ("shipment_id", "tracking_number", "origin", "destination", "mode", "carrier",
            "delivered", "projected", "record")
_SUM_KEY = ("account", "origin", "destination", "mode", "carrier", "source")
_ADD_SUMS = upsert("eta_accuracy", _SUM_KEY + SUM_COLUMNS, SUM_COLUMNS,
                   key=", ".join(_SUM_KEY), add=True)
_UPSERT = upsert("eta_history", _COLUMNS, _COLUMNS[1:])


class SqlEtaHistoryView(SqlView[EtaChanges], EtaHistoryView):
    tables = {
        "eta_history": (
            "shipment_id {uuid} PRIMARY KEY, tracking_number {text}, "
            "origin {text}, destination {text}, mode {text}, "
            "carrier {text}, delivered {bool} NOT NULL, projected {bytes} NOT NULL, "
            "record {bytes}"
        ),
        "eta_accuracy": (
            "account {text} NOT NULL, origin {text} NOT NULL, destination {text} NOT NULL, "
            "mode {text} NOT NULL, carrier {text} NOT NULL, source {text} NOT NULL, "
            + ", ".join(f"{c} {{int}} NOT NULL" for c in SUM_COLUMNS)
            + ", PRIMARY KEY (account, origin, destination, mode, carrier, source)"
        ),
        **etamodels.table("eta_history_models"),
    }
    indexes = ("CREATE UNIQUE INDEX IF NOT EXISTS eta_history_numbers ON eta_history "
               "(tracking_number)",)

    def _write(self, w: Writer, changes: EtaChanges) -> None:
        etamodels.write(w, "eta_history_models", changes.models)
        w.executemany(_UPSERT, [
            (self.db.key(sid), r.tracking_number, r.lane.origin, r.lane.destination,
             r.lane.mode.value, r.lane.carrier, r.delivered_at is not None, state, _encode(r))
            if r is not None else (self.db.key(sid), None, None, None, None, None, False, state,
                                   None)
            for sid, state, r in changes.rows
        ])
        w.executemany(_ADD_SUMS, [(*key, *delta.row()) for key, delta in changes.sums.items()])

    def eta_models_since(self, version: int) -> list[LaneModel]:
        return etamodels.since(self.db, "eta_history_models", version)

    def working(self, shipment_ids: Sequence[UUID]) -> dict[UUID, tuple[bytes, EtaRecord | None]]:
        if not shipment_ids:
            return {}
        rows = self.db.select_keys(
            "SELECT shipment_id, projected, record FROM eta_history WHERE shipment_id {keys}",
            shipment_ids)
        return {self.db.read_key(sid): (bytes(state), _records.decode(bytes(record))
                                        if record is not None else None)
                for sid, state, record in rows}

    def record(self, tracking_number: str) -> EtaRecord | None:
        found = self.db.query_one("SELECT record FROM eta_history WHERE tracking_number = ?",
                                  (tracking_number,))
        return _records.decode(bytes(found[0])) if found else None

    def sums(self, *, origin: str | None, destination: str | None, mode: str | None,
             carrier: str | None, account: str | None = None) -> dict[str, Sum]:
        filters = {"account": account, "origin": origin, "destination": destination,
                   "mode": mode, "carrier": carrier}
        clauses = [f"{c} = ?" for c, v in filters.items() if v is not None] or ["TRUE"]
        rows = self.db.query(
            f"SELECT source, {', '.join(f'SUM({c})' for c in SUM_COLUMNS)} FROM eta_accuracy "
            f"WHERE {' AND '.join(clauses)} GROUP BY source",  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            [v for v in filters.values() if v is not None])
        return {source: Sum.of_row(row) for source, *row in rows}


READ_MODEL = ReadModel("eta_history", EtaHistoryProjection, memory=MemoryEtaHistoryView,
                       sql=SqlEtaHistoryView)
