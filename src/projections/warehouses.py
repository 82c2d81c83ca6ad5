"""The named warehouses read model: each account's warehouses by name and
UN/LOCODE (``tracking.warehouse``), for the list a merchant reads and for
showing a warehouse by its name where stock names its LOCODE."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, NamedTuple

from eventsourcing.dispatch import singledispatchmethod

from projections.readmodel import BatchProjection, MemoryView, ReadModel, View
from projections.sql import SqlView, Writer
from tracking.warehouse import WarehouseBook


class Warehouse(NamedTuple):
    account: str
    name: str
    locode: str


class WarehousesProjection(BatchProjection["WarehousesView"]):
    def begin(self, events: Sequence[Any], *, fresh: bool) -> None:
        self._named: list[Warehouse] = []

    @singledispatchmethod
    def process_event(self, event: Any, position: int) -> None:
        """Another aggregate's event: not this read model's concern."""

    @process_event.register
    def _named_one(self, event: WarehouseBook.Named, position: int) -> None:
        self._named.append(Warehouse(event.account, event.name, str(event.locode)))

    def changes(self) -> list[Warehouse]:
        return self._named


class WarehousesView(View[list[Warehouse]]):
    @abstractmethod
    def warehouses(self, account: str | None) -> list[Warehouse]:
        """The account's warehouses (None: every account's), by account and name."""

    def names(self, account: str | None) -> dict[tuple[str, str], str]:
        """(account, LOCODE): the name of the warehouse there."""
        return {(w.account, w.locode): w.name for w in self.warehouses(account)}


class MemoryWarehousesView(MemoryView[list[Warehouse]], WarehousesView):
    def _clear(self) -> None:
        self._rows: dict[tuple[str, str], Warehouse] = {}

    def _write(self, changes: list[Warehouse]) -> None:
        for w in changes:
            self._rows[(w.account, w.name)] = w

    def warehouses(self, account: str | None) -> list[Warehouse]:
        with self._lock:
            rows = list(self._rows.values())
        return sorted(w for w in rows if account is None or w.account == account)


class SqlWarehousesView(SqlView[list[Warehouse]], WarehousesView):
    tables = {"warehouses": "account {text} NOT NULL, name {text} NOT NULL, "
                            "locode {text} NOT NULL, PRIMARY KEY (account, name)"}

    def _write(self, w: Writer, changes: list[Warehouse]) -> None:
        w.executemany("INSERT INTO warehouses VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                      [tuple(c) for c in changes])

    def warehouses(self, account: str | None) -> list[Warehouse]:
        where, params = ("WHERE account = ? ", (account,)) if account is not None else ("", ())
        rows = self.db.query(f"SELECT account, name, locode FROM warehouses {where}"  # noqa: S608  # nosec B608: a fixed clause; the value is a parameter
                             "ORDER BY account, name", params)
        return [Warehouse(*r) for r in rows]


READ_MODEL = ReadModel("warehouses", WarehousesProjection, memory=MemoryWarehousesView,
                       sql=SqlWarehousesView)
