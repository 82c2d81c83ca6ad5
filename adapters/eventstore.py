"""Event store recorders: the library's own, plus the reads the application
needs for batches (the events, or the latest versions, of many shipments in
one query) and a leaner batch insert on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier

from projections.sql import SESSION_OPTIONS

# SQLite allows 32,766 bound variables; stay far below it.
_SQLITE_CHUNK = 500


class PostgresTrackingRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        # Key lookups and appends only: no JIT, no parallel plans (see
        # SESSION_OPTIONS). The pool reads its connection arguments at each
        # connect; the library's constructor makes the first connections.
        datastore.pool.kwargs["options"] = SESSION_OPTIONS
        if "," in str(datastore.pool.kwargs.get("host", "")):
            # Several hosts (a primary and its replicas): libpq tries each and
            # keeps the one that takes writes, so a failover is a reconnect.
            datastore.pool.kwargs["target_session_attrs"] = "read-write"
        super().__init__(datastore, events_table_name=events_table_name)
        names = {
            "schema": Identifier(self.datastore.schema),
            "table": Identifier(self.events_table_name),
        }
        # Four plain arrays in binary, instead of the library's array of a
        # composite type, which psycopg renders as text in Python (%s arrays
        # cost 6 ms of client CPU per 500 rows; %b, 0.7 ms).
        self._insert_arrays = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(**names)
        self._select_many = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%b) ORDER BY originator_id, originator_version"
        ).format(**names)
        self._select_originators = SQL(
            "SELECT DISTINCT originator_id FROM {schema}.{table} WHERE notification_id <= %s"
        ).format(**names)
        # One backward probe of the primary key per id, not a scan of every event.
        self._select_versions = SQL(
            "SELECT i.id, (SELECT max(originator_version) FROM {schema}.{table} "
            "WHERE originator_id = i.id) FROM unnest(%b::uuid[]) AS i(id)"
        ).format(**names)

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        # As the library does: lock (so notification ids commit in order), notify.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self._insert_arrays,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
            prepare=True,
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events_many(self, originator_ids: Sequence[UUID]) -> Sequence[StoredEvent]:
        with self.datastore.get_connection() as conn:
            with conn.cursor(row_factory=tuple_row, binary=True) as curs:
                curs.execute(self._select_many, (list(originator_ids),), prepare=True)
                return [StoredEvent(i, v, t, s) for i, v, t, s in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_originator_ids(self, upto: int) -> list[UUID]:
        with self.datastore.get_connection() as conn:
            with conn.cursor(row_factory=tuple_row) as curs:
                curs.execute(self._select_originators, (upto,))
                return [i for (i,) in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        with self.datastore.get_connection() as conn:
            with conn.cursor(row_factory=tuple_row) as curs:
                curs.execute(self._select_versions, (list(originator_ids),), prepare=True)
                return {i: v for i, v in curs.fetchall() if v is not None}


class SQLiteTrackingRecorder(SQLiteApplicationRecorder):
    def _chunks(
        self, c: SQLiteCursor, statement: str, originator_ids: Sequence[UUID]
    ) -> list[Any]:
        """Run ``statement`` (with ``{ids}`` for the placeholders) over the ids
        in chunks the driver accepts; all the rows."""
        ids = [i.hex if isinstance(i, UUID) else i for i in originator_ids]
        rows: list[Any] = []
        for start in range(0, len(ids), _SQLITE_CHUNK):
            chunk = ids[start : start + _SQLITE_CHUNK]
            c.execute(statement.format(ids=",".join("?" * len(chunk))), chunk)
            rows.extend(c.fetchall())
        return rows

    def select_events_many(self, originator_ids: Sequence[UUID]) -> Sequence[StoredEvent]:
        statement = (
            "SELECT originator_id, originator_version, topic, state "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            f"FROM {self.events_table_name} WHERE originator_id IN ({{ids}}) "
            "ORDER BY originator_id, originator_version"
        )
        with self.datastore.transaction(commit=False) as c:
            rows = self._chunks(c, statement, originator_ids)
        return [StoredEvent(self.convert_originator_id(i), v, t, s) for i, v, t, s in rows]

    def select_originator_ids(self, upto: int) -> list[UUID]:
        statement = (
            f"SELECT DISTINCT originator_id FROM {self.events_table_name} "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            "WHERE rowid <= ?"
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, (upto,))
            return [self.convert_originator_id(i) for (i,) in c.fetchall()]  # type: ignore[misc]

    def select_versions(self, originator_ids: Sequence[UUID]) -> dict[UUID, int]:
        statement = (
            "SELECT originator_id, max(originator_version) "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            f"FROM {self.events_table_name} WHERE originator_id IN ({{ids}}) "
            "GROUP BY originator_id"
        )
        with self.datastore.transaction(commit=False) as c:
            rows = self._chunks(c, statement, originator_ids)
        return {self.convert_originator_id(i): v for i, v in rows}  # type: ignore[misc]
