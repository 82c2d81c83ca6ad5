"""Every read of a recipient's personal data, on the record: who read it,
which shipment, what (the view, the console's page, ...), why, and when.

Append-only: the table refuses UPDATE and DELETE (a trigger on both
stores), and the code has no way to change a record. Agents read their own
trail, admins everyone's (GET /api/v1/access-records).
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from datetime import UTC, datetime

import msgspec
from adapters.keys import pool
from adapters.settings import Settings


class AccessRecord(msgspec.Struct, kw_only=True, frozen=True):
    at: datetime
    principal: str  # role:digest of the token (adapters/http/auth.py)
    role: str
    tracking_number: str
    what: str  # which read: "shipment view", "console shipment page", ...
    reason: str
    id: int = 0


class AccessRecords(ABC):
    @abstractmethod
    def add(self, record: AccessRecord) -> None:
        """Append, durably, before the personal data is answered."""

    @abstractmethod
    def list(self, *, principal: str | None, tracking_number: str | None,
             limit: int, offset: int) -> list[AccessRecord]:
        """Oldest first; ``principal`` None: everyone's."""

    def close(self) -> None:
        """Release connections."""


class MemoryAccessRecords(AccessRecords):
    def __init__(self) -> None:
        self._records: list[AccessRecord] = []
        self._lock = threading.Lock()

    def add(self, record: AccessRecord) -> None:
        with self._lock:
            self._records.append(msgspec.structs.replace(record, id=len(self._records) + 1))

    def list(self, *, principal: str | None, tracking_number: str | None,
             limit: int, offset: int) -> list[AccessRecord]:
        with self._lock:
            found = [r for r in self._records
                     if principal in (None, r.principal)
                     and tracking_number in (None, r.tracking_number)]
        return found[offset:offset + limit]


_COLUMNS = "id, at, principal, role, tracking_number, what, reason"
_WHERE = ("WHERE ({p} IS NULL OR principal = {p}) AND ({p} IS NULL OR tracking_number = {p}) "
          "ORDER BY id LIMIT {p} OFFSET {p}")


def _record(row: tuple[object, ...]) -> AccessRecord:
    at = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(str(row[1]))
    return AccessRecord(id=int(row[0]), at=at, principal=str(row[2]),  # type: ignore[call-overload]
                        role=str(row[3]), tracking_number=str(row[4]), what=str(row[5]),
                        reason=str(row[6]))


class SQLiteAccessRecords(AccessRecords):
    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.executescript(
                "CREATE TABLE IF NOT EXISTS access_records (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "at TEXT NOT NULL, principal TEXT NOT NULL, role TEXT NOT NULL, "
                "tracking_number TEXT NOT NULL, what TEXT NOT NULL, reason TEXT NOT NULL);"
                "CREATE TRIGGER IF NOT EXISTS access_records_no_update BEFORE UPDATE ON "
                "access_records BEGIN SELECT RAISE(ABORT, 'access records are append-only'); END;"
                "CREATE TRIGGER IF NOT EXISTS access_records_no_delete BEFORE DELETE ON "
                "access_records BEGIN SELECT RAISE(ABORT, 'access records are append-only'); END;")

    def add(self, record: AccessRecord) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO access_records (at, principal, role, tracking_number, what, reason) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (record.at.astimezone(UTC).isoformat(), record.principal, record.role,
                 record.tracking_number, record.what, record.reason))

    def list(self, *, principal: str | None, tracking_number: str | None,
             limit: int, offset: int) -> list[AccessRecord]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM access_records " + _WHERE.format(p="?"),  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                (principal, principal, tracking_number, tracking_number, limit, offset),
            ).fetchall()
        return [_record(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresAccessRecords(AccessRecords):
    def __init__(self, conninfo: str, schema: str) -> None:
        self._pool = pool(conninfo, schema)
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(724504)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS access_records (id bigserial PRIMARY KEY, "
                "at timestamptz NOT NULL, principal text NOT NULL, role text NOT NULL, "
                "tracking_number text NOT NULL, what text NOT NULL, reason text NOT NULL)")
            conn.execute(
                "CREATE OR REPLACE FUNCTION access_records_append_only() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'access records are append-only'; END $$")
            conn.execute("DROP TRIGGER IF EXISTS access_records_append_only ON access_records")
            conn.execute(
                "CREATE TRIGGER access_records_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
                "ON access_records EXECUTE FUNCTION access_records_append_only()")

    def add(self, record: AccessRecord) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO access_records (at, principal, role, tracking_number, what, reason) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (record.at, record.principal, record.role, record.tracking_number, record.what,
                 record.reason))

    def list(self, *, principal: str | None, tracking_number: str | None,
             limit: int, offset: int) -> list[AccessRecord]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM access_records "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                + _WHERE.format(p="%s").replace("%s IS NULL", "%s::text IS NULL"),
                (principal, principal, tracking_number, tracking_number, limit, offset),
            ).fetchall()
        return [_record(r) for r in rows]

    def close(self) -> None:
        self._pool.close()


def build_access_records(settings: Settings) -> AccessRecords:
    """The access records, in the configured database."""
    if settings.is_postgres:
        conninfo, schema = settings.postgres_conninfo()
        return PostgresAccessRecords(conninfo, schema)
    path = settings.eventstore_env()["SQLITE_DBNAME"]
    return MemoryAccessRecords() if path == ":memory:" else SQLiteAccessRecords(path)
