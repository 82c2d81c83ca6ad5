"""The shipments projection: keeps the status view (the customer's and the
agent's documents) and the exceptions view from the shipment events, and
the customs view from the customs entries' events.

It keeps a replica of each shipment's state and applies the events to it
one at a time through the aggregate's own ``apply``, judging exceptions
after each, so what it writes does not depend on how events are batched:
a rebuild from the whole log equals the incrementally built views.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from projections.customs import CustomsRow, ProjectedEntry, customs_view
from projections.store import ExceptionRow, StatusRow, ViewStore
from tracking.customs import CustomsEntry
from projections.views import OpenException, ProjectedShipment, shipment_view, tracking_view
from tracking.delivery import Delivery
from tracking.exceptions import open_exceptions
from tracking.mapper import dec_hook, enc_hook
from tracking.shipment import Shipment
from tracking.validation import loading_recorded

_encoder = msgspec.json.Encoder(enc_hook=enc_hook)
_projected = msgspec.json.Decoder(ProjectedShipment, dec_hook=dec_hook)
_projected_entry = msgspec.json.Decoder(ProjectedEntry, dec_hook=dec_hook)


class _Working:
    """One shipment while a batch is being applied."""

    __slots__ = ("shipment", "open", "position", "delivery")

    def __init__(self, shipment: Shipment, open_: dict[Any, OpenException], position: int) -> None:
        self.shipment = shipment
        self.open = open_
        self.position = position
        # Derived after the last event applied (once booked, every event is judged).
        self.delivery: Delivery | None = None


class ShipmentsProjection(Projection[Any]):
    name = "shipments"

    def __init__(self, view: ViewStore) -> None:
        super().__init__(view)
        self.store = view

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """One event (the library's projection interface); batches are faster."""
        self.process_batch([(domain_event, tracking.notification_id)], after=self.store.position())

    def process_batch(
        self, batch: Sequence[tuple[DomainEventProtocol[UUID], int]], *, after: int
    ) -> None:
        """Apply events (each with its log position, in log order) that
        follow position ``after``, and commit them with the views."""
        if not batch:
            return
        ids = list({e.originator_id for e, _ in batch if isinstance(e, Shipment.Event)})
        working: dict[UUID, _Working] = {
            sid: self._restore(doc) for sid, doc in self.store.projected(ids).items()
        }
        entry_ids = list({e.originator_id for e, _ in batch if isinstance(e, CustomsEntry.Event)})
        entries: dict[UUID, tuple[CustomsEntry, int]] = {
            eid: (self._restore_entry(doc), 0)
            for eid, doc in (self.store.customs_projected(entry_ids).items() if entry_ids else ())
        }
        raised: list[ExceptionRow] = []
        cleared: list[ExceptionRow] = []
        for event, position in batch:
            if isinstance(event, CustomsEntry.Event):
                entry = entries.get(event.originator_id)
                if entry is None or event.originator_version > entry[0].version:
                    entries[event.originator_id] = (
                        event.mutate(entry[0] if entry else None), position  # type: ignore[arg-type]
                    )
                continue
            if not isinstance(event, Shipment.Event):
                continue  # another aggregate's event: not this view's concern
            current = working.get(event.originator_id)
            if current is not None and event.originator_version <= current.shipment.version:
                continue  # already applied
            working[event.originator_id] = self._apply(current, event, position, raised, cleared)
        rows = [self._row(w) for w in working.values() if w.position > after]
        customs = [self._entry_row(e, p) for e, p in entries.values() if p > after]
        self.store.commit(
            rows, raised, cleared, after=after, position=batch[-1][1], customs=customs
        )

    def replay_streams(self, streams: Sequence[Sequence[Any]], *, at: int) -> None:
        """Replay whole streams (each one aggregate's events, in version
        order) into empty views, judging exceptions after each event as
        ``process_batch`` does, and write them with the views' position
        staying at ``at``."""
        rows: list[StatusRow] = []
        customs: list[CustomsRow] = []
        raised: list[ExceptionRow] = []
        cleared: list[ExceptionRow] = []
        for stream in streams:
            if isinstance(stream[0], CustomsEntry.Event):
                entry: Any = None
                for event in stream:
                    entry = event.mutate(entry)
                customs.append(self._entry_row(entry, at))
            elif isinstance(stream[0], Shipment.Event):
                w: _Working | None = None
                for event in stream:
                    w = self._apply(w, event, at, raised, cleared)
                assert w is not None
                rows.append(self._row(w))
            # another aggregate's stream: not this view's concern
        self.store.commit(rows, raised, cleared, after=at, position=at, customs=customs)

    def _apply(
        self, current: _Working | None, event: Any, position: int,
        raised: list[ExceptionRow], cleared: list[ExceptionRow],
    ) -> _Working:
        """One shipment event applied, and its exceptions judged: the same
        step for a batch of the log and for a whole stream in a rebuild."""
        shipment = event.mutate(current.shipment if current else None)
        assert isinstance(shipment, Shipment)
        w = _Working(shipment, current.open if current else {}, position)
        if shipment.is_booked:
            self._judge(w, event, raised, cleared)
        return w

    @staticmethod
    def _restore_entry(doc: bytes) -> CustomsEntry:
        with loading_recorded():
            return CustomsEntry.from_state(_projected_entry.decode(doc).state)

    @staticmethod
    def _entry_row(entry: CustomsEntry, position: int) -> CustomsRow:
        estimate = entry.estimate
        return CustomsRow(
            entry_id=entry.id,
            tracking_number=str(entry.tracking_number),
            country=str(entry.country),
            status=entry.status.value,
            currency=str(entry.declaration.currency),
            estimated=estimate.charges.total if estimate is not None else None,
            assessed=entry.assessed,
            declared_at=entry.declared_at,
            updated_at=entry.modified_on,
            position=position,
            projected=_encoder.encode(ProjectedEntry(state=entry.state())),
            view=_encoder.encode(customs_view(entry)),
        )

    @staticmethod
    def _restore(doc: bytes) -> _Working:
        with loading_recorded():
            projected = _projected.decode(doc)
        return _Working(Shipment.from_state(projected.state), dict(projected.open), 0)

    @staticmethod
    def _judge(
        w: _Working, event: Any, raised: list[ExceptionRow], cleared: list[ExceptionRow]
    ) -> None:
        """Open and close exceptions as they stand after this event."""
        w.delivery = w.shipment.delivery()
        found = open_exceptions(w.shipment, w.delivery)
        at = event.timestamp
        tn = str(w.shipment.tracking_number)
        for kind in [k for k in w.open if k not in found]:
            was = w.open.pop(kind)
            cleared.append(
                ExceptionRow(tracking_number=tn, kind=kind, raised_at=was.raised_at,
                             details=was.details, cleared_at=at)
            )
        for kind, details in found.items():
            if kind not in w.open:
                w.open[kind] = OpenException(kind=kind, raised_at=at, details=details)
                raised.append(
                    ExceptionRow(tracking_number=tn, kind=kind, raised_at=at, details=details)
                )

    @staticmethod
    def _row(w: _Working) -> StatusRow:
        s = w.shipment
        projected = _encoder.encode(ProjectedShipment(state=s.state(), open=w.open))
        public = full = None
        status = None
        terminal = False
        if s.is_booked:
            delivery = w.delivery or s.delivery()
            status = delivery.status.value
            terminal = delivery.status.is_terminal
            public = _encoder.encode(tracking_view(s, delivery))
            full = _encoder.encode(shipment_view(s, delivery, list(w.open.values())))
        return StatusRow(
            shipment_id=s.id,
            tracking_number=str(s.tracking_number),
            booked=s.is_booked,
            status=status,
            terminal=terminal,
            stalled=s.stalled_since is not None,
            last_activity_at=s.last_activity_at,
            position=w.position,
            projected=projected,
            public_view=public,
            full_view=full,
        )
