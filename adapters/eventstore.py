"""Event store recorders: the library's own, plus one read the application
needs for batches, the events of many shipments in one query."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

# SQLite allows 32,766 bound variables; stay far below it.
_SQLITE_CHUNK = 500


class PostgresTrackingRecorder(PostgresApplicationRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events_many(self, originator_ids: Sequence[UUID]) -> Sequence[StoredEvent]:
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(originator_ids),), prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]


class SQLiteTrackingRecorder(SQLiteApplicationRecorder):
    def select_events_many(self, originator_ids: Sequence[UUID]) -> Sequence[StoredEvent]:
        ids = [i.hex if isinstance(i, UUID) else i for i in originator_ids]
        events: list[StoredEvent] = []
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(ids), _SQLITE_CHUNK):
                chunk = ids[start : start + _SQLITE_CHUNK]
                c.execute(
                    f"SELECT originator_id, originator_version, topic, state "  # noqa: S608
                    f"FROM {self.events_table_name} "
                    f"WHERE originator_id IN ({','.join('?' * len(chunk))}) "
                    "ORDER BY originator_id, originator_version",
                    chunk,
                )
                events.extend(
                    StoredEvent(
                        originator_id=self.convert_originator_id(row["originator_id"]),
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=row["state"],
                    )
                    for row in c.fetchall()
                )
        return events
