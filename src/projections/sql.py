"""The views' databases: SQLite (the embedded default, in the same file as
the event store) and PostgreSQL, behind one small interface, so that each
read model writes its SQL once for both.

SQL here is written with ``?`` marks (PostgreSQL's are put in for it) and
its table definitions with ``{uuid}``, ``{text}``, ``{int}``, ``{bool}``,
``{time}``, ``{bytes}`` and ``{amount}`` for the column types. A view's rows
and its position are written in one transaction (``commit``), where the
position is checked too: a runner that finds it moved writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from projections.readmodel import C, View, ViewConflict

log = logging.getLogger(__name__)

_POSITIONS = "CREATE TABLE IF NOT EXISTS view_positions (view {text} PRIMARY KEY, position {int} NOT NULL)"


def upsert(table: str, columns: Sequence[str], updated: Sequence[str], *,
           key: str | None = None, add: bool = False) -> str:
    """INSERT of a row of ``columns`` (``?`` marks) into a view's ``table``;
    on a row already there (its ``key``, by default the first column), the
    ``updated`` columns take the new values, or with ``add`` the sums of
    old and new. Names are the views' own, never input."""
    new = [f"{c} = {table}.{c} + excluded.{c}" if add else f"{c} = excluded.{c}" for c in updated]
    return (f"INSERT INTO {table} ({', '.join(columns)}) "  # nosec B608: fixed table/column names; every value is a parameter
            f"VALUES ({','.join('?' * len(columns))}) "
            f"ON CONFLICT ({key or columns[0]}) DO UPDATE SET {', '.join(new)}")


class Writer(Protocol):
    """A cursor inside a transaction."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...


class Database(ABC):
    types: ClassVar[dict[str, str]]
    _lock_row: ClassVar[str]  # how a transaction locks the position it read
    channel: str | None = None  # what ``notify`` tells, where the database can

    # Values as the columns take them, and back.
    @staticmethod
    def key(value: UUID) -> Any:
        return value

    @staticmethod
    def time(value: datetime) -> Any:
        return value

    @staticmethod
    def amount(value: Decimal | None) -> Any:
        return value

    @staticmethod
    def read_key(value: Any) -> UUID:
        return value  # type: ignore[no-any-return]

    @staticmethod
    def read_time(value: Any) -> datetime:
        return value  # type: ignore[no-any-return]

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def select_keys(
        self, sql: str, keys: Sequence[UUID], params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """``sql`` with ``{keys}`` in place of ``IN (...)``, for these keys,
        and ``params`` for the marks after it."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Writer]: ...

    def _schema(self) -> AbstractContextManager[Writer]:
        return self.transaction()

    @abstractmethod
    def _exists(self, w: Writer, table: str) -> bool: ...

    @abstractmethod
    def _empty(self, w: Writer, tables: Sequence[str]) -> None: ...

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def copy(self, w: Writer, table: str, columns: Sequence[str],
             rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows known to be new (a rebuild's, into an emptied view) as
        fast as the database takes them: here one INSERT per row, in one
        ``executemany``; PostgreSQL's is COPY."""
        w.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                      f"VALUES ({','.join('?' * len(columns))})", rows)

    def notify(self, w: Writer, payload: str) -> None:
        """Tell the views' ``channel`` listeners, as ``w`` commits (PostgreSQL's
        NOTIFY; other processes on SQLite poll the position instead)."""

    async def query_one_async(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        """``query_one`` for an event loop, without blocking it: here in a
        worker thread; a database that can be asked asynchronously is."""
        return await asyncio.to_thread(self.query_one, sql, params)

    async def aclose(self) -> None:
        """Close what ``query_one_async`` opened in the running event loop."""

    def close(self) -> None: ...

    def create(self, view: str, tables: Mapping[str, str], indexes: Sequence[str] = ()) -> None:
        """Create a view's tables (name: column definitions) where missing. A
        view with a table missing starts afresh, its other tables emptied and
        its position back to 0: a new layout is projected again from the log."""
        with self._schema() as w:
            w.execute(_POSITIONS.format(**self.types))
            missing = [t for t in tables if not self._exists(w, t)]
            for table, columns in tables.items():
                w.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns.format(**self.types)})")
            for index in indexes:
                w.execute(index)
            if missing:
                self._empty(w, [t for t in tables if t not in missing])
                if w.execute("DELETE FROM view_positions WHERE view = ?", (view,)).rowcount:
                    log.warning("the %s view has new tables (%s): it is projected again from "
                                "the start of the log", view, ", ".join(missing))

    def position(self, view: str) -> int:
        found = self.query_one("SELECT position FROM view_positions WHERE view = ?", (view,))
        return found[0] if found else 0

    @contextmanager
    def commit(self, view: str, *, after: int, position: int) -> Iterator[Writer]:
        """A transaction writing a view's rows, its position checked first
        and moved from ``after`` to ``position`` last."""
        with self.transaction() as w:
            w.execute("INSERT INTO view_positions VALUES (?, 0) ON CONFLICT (view) DO NOTHING",
                      (view,))
            (current,) = w.execute("SELECT position FROM view_positions WHERE view = ?"  # nosec B608: fixed table/column names; every value is a parameter
                                   + self._lock_row, (view,)).fetchone()
            if current != after:
                raise ViewConflict(f"the {view} view is at {current}, not {after}")
            yield w
            w.execute("UPDATE view_positions SET position = ? WHERE view = ?", (position, view))

    def reset(self, view: str, tables: Sequence[str]) -> None:
        with self.transaction() as w:
            self._empty(w, tables)
            w.execute("DELETE FROM view_positions WHERE view = ?", (view,))


class SqlView(View[C]):
    """A view on a database: subclasses give their ``tables`` (and indexes),
    and say how a batch's changes are written."""

    tables: ClassVar[dict[str, str]]
    indexes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, db: Database, name: str) -> None:
        self.db, self.name = db, name
        db.create(name, self.tables, self.indexes)

    def position(self) -> int:
        return self.db.position(self.name)

    def commit(self, changes: C, *, after: int, position: int) -> None:
        with self.db.commit(self.name, after=after, position=position) as w:
            self._write(w, changes)

    def reset(self) -> None:
        self.db.reset(self.name, list(self.tables))

    @abstractmethod
    def _write(self, w: Writer, changes: C) -> None: ...


class SQLiteDatabase(Database):
    """Timestamps are stored as UTC ISO text, so they sort as they compare;
    keys as hex text, amounts as decimal text (summed exactly, never as floats)."""

    types = {"uuid": "TEXT", "text": "TEXT", "int": "INTEGER", "bool": "INTEGER",
             "time": "TEXT", "bytes": "BLOB", "amount": "TEXT"}
    _lock_row = ""  # BEGIN IMMEDIATE has locked the database

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()

    @staticmethod
    def key(value: UUID) -> Any:
        return value.hex

    @staticmethod
    def time(value: datetime) -> Any:
        return value.astimezone(UTC).isoformat()

    @staticmethod
    def amount(value: Decimal | None) -> Any:
        return None if value is None else str(value)

    @staticmethod
    def read_key(value: Any) -> UUID:
        return UUID(value)

    @staticmethod
    def read_time(value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def select_keys(
        self, sql: str, keys: Sequence[UUID], params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        found: list[tuple[Any, ...]] = []
        hexes = [k.hex for k in keys]
        for start in range(0, len(hexes), 500):
            chunk = hexes[start : start + 500]
            found += self.query(sql.format(keys=f"IN ({','.join('?' * len(chunk))})"),
                                [*chunk, *params])
        return found

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        with self._lock:
            c = self._conn.cursor()
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def _exists(self, w: Writer, table: str) -> bool:
        return bool(w.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (table,)).fetchone())

    def _empty(self, w: Writer, tables: Sequence[str]) -> None:
        for table in tables:
            w.execute(f"DELETE FROM {table}")  # noqa: S608 - our own table names  # nosec B608: fixed table/column names; every value is a parameter

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# Every query here reads or writes a few rows by key. Without statistics
# (autovacuum off, or a table that grew faster than it analyses) the planner
# guessed millions of rows for `= ANY(ids)`, and chose parallel plans with JIT
# compilation: 0.3-0.9 s per query instead of a few ms. Neither ever pays for
# itself on such queries.
SESSION_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0"


@functools.lru_cache(maxsize=256)
def _marks(sql: str) -> str:
    return sql.replace("?", "%s")


class _PostgresWriter:
    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(_marks(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cursor.executemany(_marks(sql), rows)

    def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


class PostgresDatabase(Database):
    types = {"uuid": "uuid", "text": "text", "int": "bigint", "bool": "boolean",
             "time": "timestamptz", "bytes": "bytea", "amount": "numeric"}
    _lock_row = " FOR UPDATE"  # two runners' commits take turns

    def __init__(self, conninfo: str, schema: str = "public", *, pool_size: int = 4) -> None:
        self.schema = schema
        # NOTIFY is database-wide: one channel per schema's views.
        self.channel = f"tracking_views_{schema}"[:63]
        self._conninfo, self._pool_size = conninfo, pool_size
        self._pool = ConnectionPool(conninfo, min_size=1, max_size=pool_size,
                                    kwargs=self._kwargs(), open=True)
        # The public view, the busiest read, is asked from the event loop: a
        # worker thread per request cost 40 % of reads/s (uvicorn, 2 workers).
        # One pool per loop (a loop's connections cannot serve another),
        # with the task opening it: the first requests wait for it together.
        self._async_pools: dict[
            asyncio.AbstractEventLoop, tuple[AsyncConnectionPool, asyncio.Task[None]]
        ] = {}

    def _kwargs(self) -> dict[str, Any]:
        return {"options": f"-c search_path={self.schema} {SESSION_OPTIONS}", "autocommit": True}

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            return cur.execute(_marks(sql), params, prepare=True).fetchall()  # type: ignore[call-overload, no-any-return]

    def select_keys(
        self, sql: str, keys: Sequence[UUID], params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        return self.query(sql.format(keys="= ANY(?)"), (list(keys), *params))

    def notify(self, w: Writer, payload: str) -> None:
        w.execute("SELECT pg_notify(?, ?)", (self.channel, payload))

    def copy(self, w: Writer, table: str, columns: Sequence[str],
             rows: Sequence[Sequence[Any]]) -> None:
        assert isinstance(w, _PostgresWriter)
        w.copy(table, columns, rows)  # 3x the rows/s of executemany (bench/store.py (d))

    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        with self._pool.connection() as conn, conn.transaction():
            yield _PostgresWriter(conn.cursor(row_factory=tuple_row))

    @contextmanager
    def _schema(self) -> Iterator[Writer]:
        with self.transaction() as w:
            # Serialise creation: several processes may start at once.
            w.execute("SELECT pg_advisory_xact_lock(724501)")
            yield w

    def _exists(self, w: Writer, table: str) -> bool:
        return w.execute("SELECT to_regclass(?)", (table,)).fetchone()[0] is not None

    def _empty(self, w: Writer, tables: Sequence[str]) -> None:
        if tables:
            w.execute(f"TRUNCATE {', '.join(tables)}")

    async def query_one_async(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        for attempt in (1, 2):
            pool = await self._async_pool()
            try:
                async with pool.connection() as conn:
                    cur = await conn.execute(_marks(sql), params, prepare=True)  # type: ignore[call-overload]
                    return await cur.fetchone()  # type: ignore[no-any-return]
            except psycopg.OperationalError:
                # A connection cut (database restarted, backend terminated):
                # the pool drops it; one more try on a fresh one.
                if attempt == 2:
                    raise
        return None  # not reached

    async def _async_pool(self) -> AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        found = self._async_pools.get(loop)
        if found is None:
            pool = AsyncConnectionPool(self._conninfo, min_size=1, max_size=self._pool_size,
                                       open=False, kwargs=self._kwargs())  # fmt: skip
            found = self._async_pools[loop] = (pool, loop.create_task(pool.open()))
        pool, opening = found
        if not opening.done():
            await asyncio.shield(opening)
        if opening.exception() is not None:  # this read fails, saying why; the next opens anew
            self._async_pools.pop(loop, None)
            opening.result()
        return pool

    async def aclose(self) -> None:
        found = self._async_pools.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found[0].close()

    def close(self) -> None:
        self._pool.close()


class PostgresListener:
    """Wakes a runner when the event store notifies its channel, or the live
    streams' watcher when the shipments view does (LISTEN)."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo, self._channel = conninfo, channel
        self._conn: psycopg.Connection[Any] | None = None
        self._connect()

    def _connect(self) -> None:
        self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
        self._conn.execute(f'LISTEN "{self._channel}"')

    def wait(self, timeout: float) -> str | None:
        """Until a notification or ``timeout``: the payload of the last one
        come by then (those queued behind the first are taken too, so one
        wake answers them all), None after ``timeout``. A lost connection is
        opened again (the runner reads the log after every wait, so a
        notification missed meanwhile delays nothing beyond one poll)."""
        try:
            if self._conn is None or self._conn.closed:
                self._connect()
            assert self._conn is not None
            told = None
            for n in self._conn.notifies(timeout=timeout, stop_after=1):
                told = n.payload
            if told is not None:
                for n in self._conn.notifies(timeout=0.0):
                    told = n.payload
            return told
        except psycopg.OperationalError:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
            self._conn = None
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
