"""The exceptions queue, part of the shipments read model
(``projections.shipments`` judges the exceptions; this module holds their
rows, what agents did about each (``tracking.casework``), and how the queue
is searched in memory and in SQL).

A row is raised when its condition starts and closed either by the event
that ended the condition (a later scan: ``cleared_by`` names its type and
``cleared_by_version`` its version) or by an agent resolving it
(``resolved_by``); closed rows stay, in the closed list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from projections.sql import Database, Writer
from tracking import casework
from tracking.exceptions import ExceptionKind

Key = tuple[str, str, datetime]


class ExceptionRow(msgspec.Struct, kw_only=True):
    """One exception: raised, and cleared (or still open), and its casework."""

    tracking_number: str
    kind: ExceptionKind
    raised_at: datetime
    details: str
    cleared_at: datetime | None = None
    carrier: str | None = None
    origin: str | None = None
    destination: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    assignee: str | None = None
    snoozed_until: datetime | None = None
    comments: int = 0
    resolved_by: str | None = None
    cleared_by: str | None = None  # the type of the event that closed it
    cleared_by_version: int | None = None

    @property
    def key(self) -> Key:
        return (self.tracking_number, self.kind.value, self.raised_at)


class CaseUpdate(msgspec.Struct, frozen=True):
    """A change to one row: its columns' new values (``comments`` counts one more)."""

    key: Key
    values: dict[str, Any]


class Queue(msgspec.Struct, frozen=True, kw_only=True):
    """What the queue is searched by (None: any)."""

    tracking_number: str | None = None
    carrier: str | None = None
    origin: str | None = None
    destination: str | None = None
    assignee: str | None = None
    raised_before: datetime | None = None  # open at least so long


def casework_update(event: casework.ExceptionWorked, key: Key) -> CaseUpdate:
    """What an agent's casework event changes of the open row ``key``."""
    by, at = event.source.id, event.timestamp
    values: dict[str, Any]
    if isinstance(event, casework.ExceptionAcknowledged):
        values = {"acknowledged_by": by, "acknowledged_at": at}
    elif isinstance(event, casework.ExceptionAssigned):
        values = {"assignee": event.assignee}
    elif isinstance(event, casework.ExceptionCommented):
        values = {"comments": 1}
    elif isinstance(event, casework.ExceptionSnoozed):
        values = {"snoozed_until": event.until}
    else:
        values = closed_by(event, at) | {"resolved_by": by}
    return CaseUpdate(key, values)


def closed_by(event: Any, at: datetime) -> dict[str, Any]:
    return {"cleared_at": at, "cleared_by": type(event).__name__,
            "cleared_by_version": event.originator_version}


def apply_update(row: ExceptionRow, update: CaseUpdate) -> ExceptionRow:
    values = dict(update.values)
    if "cleared_at" in values and row.cleared_at is not None:
        return row  # closed once
    if "comments" in values:
        values["comments"] = row.comments + 1
    return msgspec.structs.replace(row, **values)


def matches(row: ExceptionRow, state: str | None, kind: str | None, queue: Queue) -> bool:
    return (
        (state is None or (row.cleared_at is None) == (state == "open"))
        and (kind is None or row.kind == kind)
        and (queue.tracking_number is None or row.tracking_number == queue.tracking_number)
        and (queue.carrier is None or row.carrier == queue.carrier)
        and (queue.origin is None or row.origin == queue.origin)
        and (queue.destination is None or row.destination == queue.destination)
        and (queue.assignee is None or row.assignee == queue.assignee)
        and (queue.raised_before is None or row.raised_at <= queue.raised_before)
    )


class MemoryQueue:
    """The queue of a memory view (the caller holds the view's lock)."""

    def __init__(self) -> None:
        self.rows: dict[Key, ExceptionRow] = {}

    def write(self, raised: Sequence[ExceptionRow], updates: Sequence[CaseUpdate]) -> None:
        for exc in raised:
            self.rows.setdefault(exc.key, exc)
        for update in updates:
            current = self.rows.get(update.key)
            if current is not None:
                self.rows[update.key] = apply_update(current, update)

    def select(self, *, state: str | None, kind: str | None, limit: int, offset: int,
               queue: Queue) -> list[ExceptionRow]:
        found = [e for e in self.rows.values() if matches(e, state, kind, queue)]
        found.sort(key=lambda e: (e.raised_at, e.tracking_number, e.kind))
        return found[offset : offset + limit]

    def count(self, *, state: str | None, queue: Queue) -> dict[str, int]:
        return dict(Counter(e.kind.value for e in self.rows.values()
                            if matches(e, state, None, queue)))


# -- SQL ----------------------------------------------------------------------------

TABLES = {
    "shipment_exceptions": (
        "tracking_number {text} NOT NULL, kind {text} NOT NULL, raised_at {time} NOT NULL, "
        "cleared_at {time}, details {text} NOT NULL, "
        "PRIMARY KEY (tracking_number, kind, raised_at)"
    ),
    "exception_casework": (
        "tracking_number {text} NOT NULL, kind {text} NOT NULL, raised_at {time} NOT NULL, "
        "carrier {text}, origin {text}, destination {text}, acknowledged_by {text}, "
        "acknowledged_at {time}, assignee {text}, snoozed_until {time}, "
        "comments {int} NOT NULL DEFAULT 0, resolved_by {text}, cleared_by {text}, "
        "cleared_by_version {int}, PRIMARY KEY (tracking_number, kind, raised_at)"
    ),
}
INDEXES = (
    "CREATE INDEX IF NOT EXISTS shipment_exceptions_open ON shipment_exceptions (raised_at) "
    "WHERE cleared_at IS NULL",
)
_TIMES = {"acknowledged_at", "snoozed_until", "cleared_at"}
_CASE_COLUMNS = ("carrier", "origin", "destination", "acknowledged_by", "acknowledged_at",
                 "assignee", "snoozed_until", "comments", "resolved_by", "cleared_by",
                 "cleared_by_version")


def write(db: Database, w: Writer, raised: Sequence[ExceptionRow],
          updates: Sequence[CaseUpdate], *, fresh: bool = False) -> None:
    """``fresh``: into an emptied queue (a rebuild, each shipment's whole
    stream in one batch): the updates of the rows raised here are folded
    into them (as the memory queue does) and the rows copied in."""
    time = db.time
    if fresh and raised:
        folded = MemoryQueue()
        folded.write(raised, [])
        rest = [u for u in updates if u.key not in folded.rows]
        folded.write([], [u for u in updates if u.key in folded.rows])
        rows = list(folded.rows.values())
        db.copy(w, "shipment_exceptions",
                ("tracking_number", "kind", "raised_at", "cleared_at", "details"),
                [(e.tracking_number, e.kind.value, time(e.raised_at),
                  None if e.cleared_at is None else time(e.cleared_at), e.details)
                 for e in rows])
        db.copy(w, "exception_casework", ("tracking_number", "kind", "raised_at",
                                          *_CASE_COLUMNS),
                [(e.tracking_number, e.kind.value, time(e.raised_at),
                  *(time(v) if c in _TIMES and v is not None else v
                    for c, v in ((c, getattr(e, c)) for c in _CASE_COLUMNS)))
                 for e in rows])
        raised, updates = (), rest
    w.executemany(
        "INSERT INTO shipment_exceptions VALUES (?,?,?,NULL,?) ON CONFLICT DO NOTHING",
        [(e.tracking_number, e.kind.value, time(e.raised_at), e.details) for e in raised])
    w.executemany(
        "INSERT INTO exception_casework (tracking_number, kind, raised_at, carrier, origin, "
        "destination) VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
        [(e.tracking_number, e.kind.value, time(e.raised_at), e.carrier, e.origin,
          e.destination) for e in raised])
    for u in updates:
        tn, kind, raised_at = u.key
        where = (tn, kind, time(raised_at))
        values = dict(u.values)
        if "cleared_at" in values:
            cleared = w.execute(
                "UPDATE shipment_exceptions SET cleared_at = ? WHERE tracking_number = ? "
                "AND kind = ? AND raised_at = ? AND cleared_at IS NULL",
                (time(values.pop("cleared_at")), *where))
            if getattr(cleared, "rowcount", 1) == 0:
                continue  # closed once
        if not values:
            continue
        sets = ", ".join("comments = comments + 1" if c == "comments" else f"{c} = ?"
                         for c in values)
        params = [time(v) if c in _TIMES else v for c, v in values.items() if c != "comments"]
        w.execute(f"UPDATE exception_casework SET {sets} WHERE tracking_number = ? "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                  "AND kind = ? AND raised_at = ?", (*params, *where))


def _where(state: str | None, kind: str | None, queue: Queue,
           db: Database) -> tuple[str, list[Any]]:
    clauses = {"open": ["e.cleared_at IS NULL"], "closed": ["e.cleared_at IS NOT NULL"]}.get(
        state or "", [])
    params: list[Any] = []
    for column, value in (("e.kind", kind), ("e.tracking_number", queue.tracking_number),
                          ("c.carrier", queue.carrier),
                          ("c.origin", queue.origin), ("c.destination", queue.destination),
                          ("c.assignee", queue.assignee)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if queue.raised_before is not None:
        clauses.append("e.raised_at <= ?")
        params.append(db.time(queue.raised_before))
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


_FROM = (" FROM shipment_exceptions e LEFT JOIN exception_casework c ON "
         "c.tracking_number = e.tracking_number AND c.kind = e.kind AND c.raised_at = e.raised_at")


def select(db: Database, *, state: str | None, kind: str | None, limit: int, offset: int,
           queue: Queue) -> list[ExceptionRow]:
    where, params = _where(state, kind, queue, db)
    columns = ", ".join(f"c.{c}" for c in _CASE_COLUMNS)
    rows = db.query(
        f"SELECT e.tracking_number, e.kind, e.raised_at, e.cleared_at, e.details, {columns}"
        f"{_FROM}{where} ORDER BY e.raised_at, e.tracking_number, e.kind LIMIT ? OFFSET ?",
        [*params, limit, offset])
    read = db.read_time
    found = []
    for tn, k, raised, cleared, details, *case in rows:
        values = dict(zip(_CASE_COLUMNS, case, strict=True))
        for c in _TIMES & values.keys():
            values[c] = read(values[c]) if values[c] is not None else None
        values["comments"] = values["comments"] or 0
        found.append(ExceptionRow(
            tracking_number=tn, kind=ExceptionKind(k), raised_at=read(raised),
            cleared_at=read(cleared) if cleared is not None else None, details=details,
            **values))
    return found


def count(db: Database, *, state: str | None, queue: Queue) -> dict[str, int]:
    where, params = _where(state, None, queue, db)
    rows = db.query(f"SELECT e.kind, COUNT(*){_FROM}{where} GROUP BY e.kind", params)
    return {k: n for k, n in rows}
