"""Event store recorders: the library's own, plus the reads the application
needs for batches (the events, or the latest versions, of many shipments in
one query) and a leaner batch insert on PostgreSQL.

On PostgreSQL each shipment also has a state row (``tracking.state_codec``)
in a table beside the events, upserted in the transaction that inserts its
events and before the events table's lock is taken, so the lock is held for
the insert alone: loading a shipment nobody has cached reads that one row
(and the events after it, normally none) instead of one heap page per event.
"""

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
from psycopg.sql import SQL, Identifier, Literal

from projections.sql import SESSION_OPTIONS
from tracking.unitofwork import StateRow, StoredState

# SQLite allows 32,766 bound variables; stay far below it.
_SQLITE_CHUNK = 500


class PostgresTrackingRecorder(PostgresApplicationRecorder):
    keeps_states = True

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        # Key lookups and appends only: no JIT, no parallel plans (see
        # SESSION_OPTIONS), and the plan of a prepared statement made once:
        # planning a load again at each call cost as much as running it.
        # The pool reads its connection arguments at each connect; the
        # library's constructor makes the first connections.
        datastore.pool.kwargs["options"] = f"{SESSION_OPTIONS} -c plan_cache_mode=force_generic_plan"
        if "," in str(datastore.pool.kwargs.get("host", "")):
            # Several hosts (a primary and its replicas): libpq tries each and
            # keeps the one that takes writes, so a failover is a reconnect.
            datastore.pool.kwargs["target_session_attrs"] = "read-write"
        super().__init__(datastore, events_table_name=events_table_name)
        self.states_table_name = self.events_table_name.removesuffix("_events") + "_states"
        names = {
            "schema": Identifier(self.datastore.schema),
            "table": Identifier(self.events_table_name),
            "states": Identifier(self.states_table_name),
        }
        # Rewritten at every save of its shipment: room on the page for the
        # new version keeps the update HOT (no index entry to add). The state
        # is kept compressed in the row (MAIN), with lz4 where the server has
        # it (6.9 KB of a 21-event shipment stored in 2.4 KB, no TOAST).
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {schema}.{states} (id uuid PRIMARY KEY, "
            "version bigint NOT NULL, format int NOT NULL, state bytea NOT NULL) "
            "WITH (fillfactor = 70)"
        ).format(**names))
        # Altered only when not yet so: an ALTER TABLE takes the table's
        # strongest lock, and a process starting beside one writing would
        # deadlock with it at every start (seen with two projection runners).
        column = SQL(
            "SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {schema_name} "
            "AND c.relname = {states_name} AND a.attname = 'state'"
        ).format(schema_name=Literal(self.datastore.schema),
                 states_name=Literal(self.states_table_name))
        for setting, check in (("STORAGE MAIN", "a.attstorage <> 'm'"),
                               ("COMPRESSION lz4", "a.attcompression IS DISTINCT FROM 'l'")):
            self.sql_create_statements.append(SQL(
                "DO $$ BEGIN IF EXISTS ({column} AND {check}) THEN "
                "ALTER TABLE {schema}.{states} ALTER COLUMN state SET {setting}; END IF; "
                "EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL; END $$"
            ).format(column=column, check=SQL(check), setting=SQL(setting), **names))
        # Only ever forward: a row is never replaced by an older version's.
        self._upsert_states = SQL(
            "INSERT INTO {schema}.{states} AS s (id, version, format, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::int[], %b::bytea[]) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version, "
            "format = excluded.format, state = excluded.state WHERE s.version < excluded.version"
        ).format(**names)
        # Each id's state row and its events after the row's version (all of
        # them without one): two index probes each, one round trip. A row is
        # repeated beside each event after it, and there are none unless
        # events were written without it.
        self._select_latest = SQL(
            "SELECT i.id, s.version, s.format, s.state, e.originator_version, e.topic, e.state "
            "FROM unnest(%b::uuid[]) AS i(id) "
            "LEFT JOIN {schema}.{states} s ON s.id = i.id "
            "LEFT JOIN {schema}.{table} e ON e.originator_id = i.id "
            "AND e.originator_version > coalesce(s.version, 0) "
            "ORDER BY i.id, e.originator_version"
        ).format(**names)
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

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], *,
        states: Sequence[StateRow] = (), **_: Any,
    ) -> None:
        """Before the lock: the state rows, in id order (so that writers
        upserting the same rows take their locks in one order)."""
        if states:
            rows = sorted(states)
            curs.execute(self._upsert_states, [list(c) for c in zip(*rows, strict=True)],
                         prepare=True)

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
    def select_latest_many(
        self, originator_ids: Sequence[UUID]
    ) -> Sequence[StoredState | StoredEvent]:
        with self.datastore.get_connection() as conn:
            with conn.cursor(row_factory=tuple_row, binary=True) as curs:
                curs.execute(self._select_latest, (list(dict.fromkeys(originator_ids)),),
                             prepare=True)
                rows = curs.fetchall()
        found: list[StoredState | StoredEvent] = []
        last = None
        for i, version, format_, state, event_version, topic, event in rows:
            if version is not None and i != last:
                found.append(StoredState(i, version, format_, state))
            if event_version is not None:
                found.append(StoredEvent(i, event_version, topic, event))
            last = i
        return found

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
    # The embedded store keeps no state rows: shipments are replayed.
    keeps_states = False
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

    def select_latest_many(
        self, originator_ids: Sequence[UUID]
    ) -> Sequence[StoredState | StoredEvent]:
        return self.select_events_many(originator_ids)

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
