"""The links read model: a later carrier's tracking number, from a hand-over
(``tracking.link``), to the number of the shipment it names. Reads find a
handed-over shipment through it, never by replaying the link's aggregate."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod

from projections.readmodel import BatchProjection, MemoryView, ReadModel, View
from projections.sql import SqlView, Writer
from tracking.identifiers import shipment_id
from tracking.link import TrackingLink


class LinksProjection(BatchProjection["LinksView"]):
    def begin(self, events: Sequence[Any], *, fresh: bool) -> None:
        self._links: dict[str, str] = {}

    @singledispatchmethod
    def process_event(self, event: Any, position: int) -> None:
        """Another aggregate's event: not this read model's concern."""

    @process_event.register
    def _linked(self, event: TrackingLink.Linked, position: int) -> None:
        self._links[str(event.tracking_number)] = str(event.shipment)

    def changes(self) -> Mapping[str, str]:
        return self._links


class LinksView(View[Mapping[str, str]]):
    @abstractmethod
    def shipment_of(self, tracking_number: str) -> str | None:
        """The number of the shipment handed over under this number, if any."""

    def linked_view(
        self, read: Callable[[UUID], bytes | None], tracking_number: str
    ) -> bytes | None:
        """The document ``read`` gives of the shipment handed over under this
        number (a view miss on its own number), if there is one."""
        linked = self.shipment_of(tracking_number)
        return read(shipment_id(linked)) if linked is not None else None


class MemoryLinksView(MemoryView[Mapping[str, str]], LinksView):
    def _clear(self) -> None:
        self._links: dict[str, str] = {}

    def _write(self, changes: Mapping[str, str]) -> None:
        for number, shipment in changes.items():
            self._links.setdefault(number, shipment)  # a link, once made, stays

    def shipment_of(self, tracking_number: str) -> str | None:
        return self._links.get(tracking_number)


class SqlLinksView(SqlView[Mapping[str, str]], LinksView):
    tables = {"tracking_links": "tracking_number {text} PRIMARY KEY, shipment {text} NOT NULL"}

    def _write(self, w: Writer, changes: Mapping[str, str]) -> None:
        w.executemany("INSERT INTO tracking_links VALUES (?, ?) ON CONFLICT DO NOTHING",
                      list(changes.items()))

    def shipment_of(self, tracking_number: str) -> str | None:
        found = self.db.query_one("SELECT shipment FROM tracking_links WHERE tracking_number = ?",
                                  (tracking_number,))
        return found[0] if found else None


READ_MODEL = ReadModel("links", LinksProjection, memory=MemoryLinksView, sql=SqlLinksView)
