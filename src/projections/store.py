"""Where the shipments projection keeps its views: the status of each
shipment and the exceptions raised and cleared, with the projection's
position, all written in one transaction. This module holds the interface
and the in-memory implementation; ``sql`` holds SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from datetime import datetime
from uuid import UUID

import msgspec

from projections.customs import CustomsRow, CustomsTotal, totals
from tracking.exceptions import ExceptionKind


class StatusRow(msgspec.Struct, kw_only=True):
    """One shipment in the status view. ``projected`` is the state the
    projection goes on from; the views are ready-encoded JSON documents,
    None until the shipment is booked."""

    shipment_id: UUID
    tracking_number: str
    booked: bool
    status: str | None
    terminal: bool
    stalled: bool
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


class ViewConflict(Exception):
    """Another runner advanced the view since this one read its position:
    nothing was written; read the position again and go on from there."""


class ViewStore(ABC):
    """The views of the shipments projection, in one store."""

    name = "shipments"

    @abstractmethod
    def position(self) -> int:
        """The log position of the last event the views have processed (0: none)."""

    @abstractmethod
    def projected(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """The projection's state of each of these shipments it has seen."""

    @abstractmethod
    def commit(
        self,
        rows: Sequence[StatusRow],
        raised: Sequence[ExceptionRow],
        cleared: Sequence[ExceptionRow],
        *,
        after: int,
        position: int,
        customs: Sequence[CustomsRow] = (),
    ) -> None:
        """Write rows (and customs entries), raise and clear exceptions and move the position from
        ``after`` to ``position``, all or nothing. Raises ViewConflict when the
        position is no longer ``after``."""

    @abstractmethod
    def public_view(self, shipment_id: UUID) -> bytes | None: ...

    @abstractmethod
    def public_views_since(
        self, after: int, shipment_ids: Collection[UUID]
    ) -> list[tuple[UUID, int, bytes]]:
        """(shipment id, row position, public view) of those of these booked
        shipments whose row has moved past log position ``after``: what the
        live streams send, each tagged with the position it is as of."""

    async def public_view_async(self, shipment_id: UUID) -> bytes | None:
        """``public_view`` for an event loop, without blocking it: here in a
        worker thread; a store that can ask its database asynchronously does."""
        return await asyncio.to_thread(self.public_view, shipment_id)

    async def aclose(self) -> None:
        """Close what ``public_view_async`` opened in the running event loop."""

    @abstractmethod
    def full_view(self, shipment_id: UUID) -> bytes | None: ...

    @abstractmethod
    def exceptions(
        self, *, state: str | None, kind: str | None, limit: int, offset: int
    ) -> list[ExceptionRow]:
        """Exceptions, oldest raised first; ``state`` is "open", "closed" or None (all)."""

    @abstractmethod
    def unfinished(self, limit: int) -> list[str]:
        """Tracking numbers of booked shipments not delivered or returned,
        longest unheard of first (what carrier polling asks about)."""

    @abstractmethod
    def quiet_since(self, before: datetime, limit: int) -> list[str]:
        """Tracking numbers of booked, unfinished, unflagged shipments last heard of before ``before``."""

    @abstractmethod
    def customs_projected(self, entry_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        """The projection's state of each of these customs entries it has seen."""

    @abstractmethod
    def customs_entry(self, entry_id: UUID) -> bytes | None:
        """The entry's view document."""

    @abstractmethod
    def customs_entries(
        self, *, status: str | None, country: str | None, tracking_number: str | None,
        limit: int, offset: int,
    ) -> list[bytes]:
        """View documents of the entries that match, most recently updated first."""

    @abstractmethod
    def customs_totals(self) -> list[CustomsTotal]:
        """Entries and duties by country, status and currency."""

    @abstractmethod
    def reset(self) -> None:
        """Empty the views and set the position back to 0, for a rebuild."""

    def close(self) -> None:
        """Release connections."""


class MemoryViewStore(ViewStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._position = 0
            self._rows: dict[UUID, StatusRow] = {}
            self._exceptions: dict[tuple[str, str, datetime], ExceptionRow] = {}
            self._customs: dict[UUID, CustomsRow] = {}

    def position(self) -> int:
        return self._position

    def projected(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        with self._lock:
            return {i: self._rows[i].projected for i in shipment_ids if i in self._rows}

    def commit(
        self,
        rows: Sequence[StatusRow],
        raised: Sequence[ExceptionRow],
        cleared: Sequence[ExceptionRow],
        *,
        after: int,
        position: int,
        customs: Sequence[CustomsRow] = (),
    ) -> None:
        with self._lock:
            if self._position != after:
                raise ViewConflict(f"position is {self._position}, not {after}")
            for row in rows:
                self._rows[row.shipment_id] = row
            for entry in customs:
                self._customs[entry.entry_id] = entry
            for exc in raised:
                self._exceptions.setdefault(exc.key, exc)
            for exc in cleared:
                current = self._exceptions.get(exc.key)
                if current is not None and current.cleared_at is None:
                    self._exceptions[exc.key] = exc
            self._position = position

    def public_view(self, shipment_id: UUID) -> bytes | None:
        row = self._rows.get(shipment_id)
        return row.public_view if row else None

    def full_view(self, shipment_id: UUID) -> bytes | None:
        row = self._rows.get(shipment_id)
        return row.full_view if row else None

    def public_views_since(
        self, after: int, shipment_ids: Collection[UUID]
    ) -> list[tuple[UUID, int, bytes]]:
        rows = [self._rows.get(i) for i in shipment_ids]
        return [(r.shipment_id, r.position, r.public_view) for r in rows
                if r is not None and r.public_view is not None and r.position > after]

    def exceptions(
        self, *, state: str | None, kind: str | None, limit: int, offset: int
    ) -> list[ExceptionRow]:
        with self._lock:
            found = [
                e
                for e in self._exceptions.values()
                if (state is None or (e.cleared_at is None) == (state == "open"))
                and (kind is None or e.kind == kind)
            ]
        found.sort(key=lambda e: (e.raised_at, e.tracking_number, e.kind))
        return found[offset : offset + limit]

    def unfinished(self, limit: int) -> list[str]:
        with self._lock:
            rows = [r for r in self._rows.values() if r.booked and not r.terminal]
        rows.sort(key=lambda r: r.last_activity_at)
        return [r.tracking_number for r in rows[:limit]]

    def quiet_since(self, before: datetime, limit: int) -> list[str]:
        with self._lock:
            quiet = [
                r
                for r in self._rows.values()
                if r.booked and not r.terminal and not r.stalled and r.last_activity_at < before
            ]
        quiet.sort(key=lambda r: r.last_activity_at)
        return [r.tracking_number for r in quiet[:limit]]

    def customs_projected(self, entry_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        with self._lock:
            return {i: self._customs[i].projected for i in entry_ids if i in self._customs}

    def customs_entry(self, entry_id: UUID) -> bytes | None:
        row = self._customs.get(entry_id)
        return row.view if row else None

    def customs_entries(
        self, *, status: str | None, country: str | None, tracking_number: str | None,
        limit: int, offset: int,
    ) -> list[bytes]:
        with self._lock:
            found = [
                r for r in self._customs.values()
                if (status is None or r.status == status)
                and (country is None or r.country == country)
                and (tracking_number is None or r.tracking_number == tracking_number)
            ]
        found.sort(key=lambda r: (r.updated_at, r.entry_id), reverse=True)
        return [r.view for r in found[offset : offset + limit]]

    def customs_totals(self) -> list[CustomsTotal]:
        with self._lock:
            rows = [(r.country, r.status, r.currency, r.estimated, r.assessed)
                    for r in self._customs.values()]
        return totals(rows)
