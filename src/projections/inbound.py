"""The inbound sums: per account, warehouse, SKU and day, the quantity on
its way at the ETA and at the window's latest (``tracking.inbound``), kept
by the shipments read model, which derives each shipment's ETA (the same
one every view shows) and keeps its cargo, so a warehouse's inbound reads
only its answer's rows, whatever the number of orders and shipments.

Each shipment's part is kept in its projected document (``ProjectedShipment``);
after each batch the difference from the part as last written is added to
the sums, in the same transaction as the view's position. A rebuild adds
each shipment's final part once, so it equals the step-by-step sums.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec

from projections.sql import Database, PostgresDatabase, Writer, upsert
from tracking.delivery import Delivery
from tracking.eta.window import ShownEta, unmodelled
from tracking.inbound import UNSCHEDULED, Key, Sums, add, inbound_of
from tracking.shipment import Shipment
from tracking.stock import InboundDay

TABLES = {
    "inbound_days": (
        "account {text} NOT NULL, warehouse {text} NOT NULL, sku {text} NOT NULL, "
        "arrives_on {text} NOT NULL, at_eta {int} NOT NULL, at_latest {int} NOT NULL, "
        "PRIMARY KEY (account, warehouse, arrives_on, sku)"
    ),
}
INDEXES = (
    # every account's (an agent's), and one SKU's, read from the index alone
    "CREATE INDEX IF NOT EXISTS inbound_days_warehouse "
    "ON inbound_days (warehouse, arrives_on, sku, at_eta, at_latest)",
    "CREATE INDEX IF NOT EXISTS inbound_days_sku "
    "ON inbound_days (warehouse, sku, arrives_on, account, at_eta, at_latest)",
)
_COLUMNS = ("account", "warehouse", "sku", "arrives_on", "at_eta", "at_latest")
_ADD = upsert("inbound_days", _COLUMNS, _COLUMNS[4:], key="account, warehouse, arrives_on, sku",
              add=True)
_DROP = ("DELETE FROM inbound_days WHERE account = ? AND warehouse = ? AND sku = ? "
         "AND arrives_on = ? AND at_eta = 0 AND at_latest = 0")


def part_of(shipment: Shipment, delivery: Delivery | None, shown: ShownEta | None) -> Sums:
    """What the shipment adds to the sums now (its ETA as its views show it)."""
    if not shipment.cargo or not shipment.is_booked:
        return {}
    booking = shipment.require_booked()
    delivery = delivery or shipment.delivery()
    if shown is None:
        shown = unmodelled(shipment.route, delivery, shipment.estimates, booking.deliver_by)
    latest = (shown.window.latest if shown.window else None) or shown.eta or booking.deliver_by
    return inbound_of(booking.account, shipment.cargo, shipment.scans, shown.eta, latest)


def encode(part: Sums) -> list[tuple[str, str, str, str, int, int]]:
    return sorted((*k, e, late) for k, (e, late) in part.items())


def decode(rows: Sequence[Sequence[Any]]) -> Sums:
    return {(r[0], r[1], r[2], r[3]): (int(r[4]), int(r[5])) for r in rows}


class SqlSums:
    """The sums in a view's table (``TABLES``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def write(w: Writer, changes: Sums) -> None:
        rows = encode(changes)
        w.executemany(_ADD, rows)
        w.executemany(_DROP, [r[:4] for r in rows])

    def select(self, *, warehouse: str, sku: str | None, account: str | None,
               end: date) -> list[tuple[str, str, int, int]]:
        """(day or UNSCHEDULED, sku, at ETA, at latest) up to ``end``, summed
        over the accounts (or of ``account``)."""
        where, params = _where(warehouse, sku, account)
        sql = ("SELECT arrives_on, sku, SUM(at_eta), SUM(at_latest) FROM inbound_days "  # noqa: S608  # nosec B608: fixed clauses; every value is a parameter
               f"WHERE {where} AND arrives_on <= ? GROUP BY arrives_on, sku")
        return [(d, s, int(e), int(late))
                for d, s, e, late in self.db.query(sql, [*params, end.isoformat()])]

    def days(self, *, warehouse: str, sku: str | None, account: str | None, start: date,
             end: date) -> tuple[list[InboundDay], int]:
        """What ``days`` makes of ``select``'s rows, made by the database: the
        days summed, those before ``start`` on it, encoded as JSON in the
        query and decoded straight into the answer's values (a whole
        warehouse's answer is thousands of rows: none is handled in Python)."""
        where, params = _where(warehouse, sku, account)
        pg = isinstance(self.db, PostgresDatabase)
        found = self.db.query(
            (_DAYS_PG if pg else _DAYS_SQLITE).format(where=where),
            [start.isoformat(), start.isoformat(), *params, UNSCHEDULED, end.isoformat()])
        unscheduled = self.db.query(
            f"SELECT SUM(at_eta) FROM inbound_days WHERE {where} AND arrives_on = ?",  # noqa: S608  # nosec B608: fixed clauses; every value is a parameter
            [*params, UNSCHEDULED])
        text = found[0][0] if found and found[0][0] else "[]"
        return _days.decode(text), int(unscheduled[0][0] or 0)


_DAYS_SUMMED = (
    "SELECT CASE WHEN arrives_on < ? THEN ? ELSE arrives_on END AS day, sku, "
    "SUM(at_eta) AS e, SUM(at_latest) AS l FROM inbound_days "
    "WHERE {where} AND arrives_on <> ? AND arrives_on <= ? GROUP BY 1, 2")
_DAYS_SQLITE = (  # a subquery's order is the aggregate's in SQLite
    "SELECT json_group_array(json_object('date', day, 'sku', sku, 'at_eta', e, "  # nosec B608: fixed clauses; every value is a parameter
    "'at_latest', l)) FROM (" + _DAYS_SUMMED + " ORDER BY 1, 2)")
_DAYS_PG = (
    "SELECT json_agg(json_build_object('date', day, 'sku', sku, 'at_eta', e, "  # nosec B608: fixed clauses; every value is a parameter
    "'at_latest', l) ORDER BY day, sku)::text FROM (" + _DAYS_SUMMED + ") AS d")
_days = msgspec.json.Decoder(list[InboundDay])


def _where(warehouse: str, sku: str | None, account: str | None) -> tuple[str, list[Any]]:
    """The rows of ``warehouse`` (of ``sku``, of ``account``, when given)."""
    where, params = "warehouse = ?", [warehouse]
    if sku is not None:
        where, params = where + " AND sku = ?", [*params, sku]
    if account is not None:
        where, params = where + " AND account = ?", [*params, account]
    return where, params


class MemorySums:
    def __init__(self) -> None:
        self.sums: dict[Key, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def write(self, changes: Sums) -> None:
        with self._lock:
            add(self.sums, changes)

    def days(self, *, warehouse: str, sku: str | None, account: str | None, start: date,
             end: date) -> tuple[list[InboundDay], int]:
        return days(self.select(warehouse=warehouse, sku=sku, account=account, end=end),
                    start=start, end=end)

    def select(self, *, warehouse: str, sku: str | None, account: str | None,
               end: date) -> list[tuple[str, str, int, int]]:
        found: dict[tuple[str, str], tuple[int, int]] = {}
        with self._lock:
            sums = list(self.sums.items())
        for (a, w, s, d), (e, late) in sums:
            if (w == warehouse and d <= end.isoformat() and (sku is None or s == sku)
                    and (account is None or a == account)):
                was = found.get((d, s), (0, 0))
                found[(d, s)] = (was[0] + e, was[1] + late)
        return [(d, s, e, late) for (d, s), (e, late) in found.items()]


def days(rows: Sequence[tuple[str, str, int, int]], *, start: date,
         end: date) -> tuple[list[InboundDay], int]:
    """The rows by day from ``start`` to ``end`` (what is due before
    ``start`` counts on it), and what has no ETA."""
    eta: dict[tuple[date, str], int] = {}
    latest: dict[tuple[date, str], int] = {}
    unscheduled = 0
    for d, s, e, late in rows:
        if d == UNSCHEDULED:
            unscheduled += e
            continue
        day = max(date.fromisoformat(d), start)
        if e:
            eta[(day, s)] = eta.get((day, s), 0) + e
        if late:
            latest[(day, s)] = latest.get((day, s), 0) + late
    keys = sorted(set(eta) | set(latest))
    return [InboundDay(date=d, sku=s, at_eta=eta.get((d, s), 0),
                       at_latest=latest.get((d, s), 0)) for d, s in keys], unscheduled
