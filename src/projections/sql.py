"""The shipments views in SQL: SQLite (the embedded default, in the same
file as the event store) and PostgreSQL. Tables are created on first use;
rows, exceptions and the position are written in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from projections.customs import CustomsRow, CustomsTotal, totals
from projections.store import ExceptionRow, StatusRow, ViewConflict, ViewStore
from tracking.exceptions import ExceptionKind

_STATUS_COLUMNS = (
    "shipment_id, tracking_number, booked, status, terminal, stalled, "
    "last_activity_at, position, projected, public_view, full_view"
)


def _status_values(row: StatusRow, ts: Any) -> tuple[Any, ...]:
    return (
        row.shipment_id, row.tracking_number, row.booked, row.status, row.terminal,
        row.stalled, ts(row.last_activity_at), row.position, row.projected,
        row.public_view, row.full_view,
    )


_CUSTOMS_COLUMNS = (
    "entry_id, tracking_number, country, status, currency, estimated, assessed, "
    "declared_at, updated_at, position, projected, view"
)


def _customs_values(row: CustomsRow, ts: Any, key: Any, amount: Any) -> tuple[Any, ...]:
    return (
        key(row.entry_id), row.tracking_number, row.country, row.status, row.currency,
        amount(row.estimated), amount(row.assessed), ts(row.declared_at), ts(row.updated_at),
        row.position, row.projected, row.view,
    )


def _customs_filter(
    status: str | None, country: str | None, tracking_number: str | None, mark: str
) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for column, value in (("status", status), ("country", country),
                          ("tracking_number", tracking_number)):
        if value is not None:
            clauses.append(f"{column} = {mark}")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _text_amount(value: Any) -> str | None:
    return None if value is None else str(value)


def _exception(row: Sequence[Any], parse: Any) -> ExceptionRow:
    tn, kind, raised_at, cleared_at, details = row
    return ExceptionRow(
        tracking_number=tn, kind=ExceptionKind(kind), raised_at=parse(raised_at),
        cleared_at=parse(cleared_at) if cleared_at is not None else None, details=details,
    )


def _state_filter(state: str | None, kind: str | None, mark: str) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if state == "open":
        clauses.append("cleared_at IS NULL")
    elif state == "closed":
        clauses.append("cleared_at IS NOT NULL")
    if kind is not None:
        clauses.append(f"kind = {mark}")
        params.append(kind)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class SQLiteViewStore(ViewStore):
    """Timestamps are stored as UTC ISO text, so they sort as they compare."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        self._create()

    def _create(self) -> None:
        with self._transaction() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS shipment_status (shipment_id TEXT PRIMARY KEY, "
                "tracking_number TEXT NOT NULL UNIQUE, booked INTEGER NOT NULL, status TEXT, "
                "terminal INTEGER NOT NULL, stalled INTEGER NOT NULL, "
                "last_activity_at TEXT NOT NULL, position INTEGER NOT NULL, "
                "projected BLOB NOT NULL, public_view BLOB, full_view BLOB)"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS shipment_exceptions (tracking_number TEXT NOT NULL, "
                "kind TEXT NOT NULL, raised_at TEXT NOT NULL, cleared_at TEXT, "
                "details TEXT NOT NULL, PRIMARY KEY (tracking_number, kind, raised_at))"
            )
            c.execute(
                "CREATE INDEX IF NOT EXISTS shipment_exceptions_open "
                "ON shipment_exceptions (raised_at) WHERE cleared_at IS NULL"
            )
            c.execute(
                "CREATE TABLE IF NOT EXISTS view_positions "
                "(view TEXT PRIMARY KEY, position INTEGER NOT NULL)"
            )
            # Amounts as decimal text: summed exactly in Python, never as floats.
            c.execute(
                "CREATE TABLE IF NOT EXISTS customs_entries (entry_id TEXT PRIMARY KEY, "
                "tracking_number TEXT NOT NULL, country TEXT NOT NULL, status TEXT NOT NULL, "
                "currency TEXT NOT NULL, estimated TEXT, assessed TEXT, "
                "declared_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
                "position INTEGER NOT NULL, projected BLOB NOT NULL, view BLOB NOT NULL)"
            )
            c.execute(
                "CREATE INDEX IF NOT EXISTS customs_entries_by_number "
                "ON customs_entries (tracking_number)"
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            c = self._conn.cursor()
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    @staticmethod
    def _ts(value: datetime) -> str:
        return value.astimezone(UTC).isoformat()

    def position(self) -> int:
        rows = self._query("SELECT position FROM view_positions WHERE view = ?", (self.name,))
        return rows[0][0] if rows else 0

    def projected(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        return self._projected("shipment_status", "shipment_id", shipment_ids)

    def _projected(self, table: str, key: str, ids: Sequence[UUID]) -> dict[UUID, bytes]:
        found: dict[UUID, bytes] = {}
        keys = [i.hex for i in ids]
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for found_id, doc in self._query(
                f"SELECT {key}, projected FROM {table} WHERE {key} IN ({marks})",  # noqa: S608
                chunk,
            ):
                found[UUID(found_id)] = doc
        return found

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
        with self._transaction() as c:
            current = c.execute(
                "SELECT position FROM view_positions WHERE view = ?", (self.name,)
            ).fetchone()
            if (current[0] if current else 0) != after:
                raise ViewConflict(f"position is {current[0] if current else 0}, not {after}")
            c.executemany(
                f"INSERT OR REPLACE INTO shipment_status ({_STATUS_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (r.shipment_id.hex, *_status_values(r, self._ts)[1:])
                    for r in rows
                ],
            )
            c.executemany(
                "INSERT OR IGNORE INTO shipment_exceptions VALUES (?,?,?,NULL,?)",
                [(e.tracking_number, e.kind.value, self._ts(e.raised_at), e.details) for e in raised],
            )
            c.executemany(
                "UPDATE shipment_exceptions SET cleared_at = ? WHERE tracking_number = ? "
                "AND kind = ? AND raised_at = ? AND cleared_at IS NULL",
                [
                    (self._ts(e.cleared_at), e.tracking_number, e.kind.value, self._ts(e.raised_at))
                    for e in cleared
                    if e.cleared_at is not None
                ],
            )
            c.executemany(
                f"INSERT OR REPLACE INTO customs_entries ({_CUSTOMS_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [_customs_values(r, self._ts, lambda i: i.hex, _text_amount) for r in customs],
            )
            c.execute(
                "INSERT OR REPLACE INTO view_positions VALUES (?, ?)", (self.name, position)
            )

    def public_view(self, shipment_id: UUID) -> bytes | None:
        rows = self._query(
            "SELECT public_view FROM shipment_status WHERE shipment_id = ?", (shipment_id.hex,)
        )
        return rows[0][0] if rows else None

    def full_view(self, shipment_id: UUID) -> bytes | None:
        rows = self._query(
            "SELECT full_view FROM shipment_status WHERE shipment_id = ?", (shipment_id.hex,)
        )
        return rows[0][0] if rows else None

    def public_views_since(
        self, after: int, shipment_ids: Collection[UUID]
    ) -> list[tuple[UUID, int, bytes]]:
        keys = [i.hex for i in shipment_ids]
        found = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found += self._query(
                "SELECT shipment_id, position, public_view FROM shipment_status "  # noqa: S608
                f"WHERE shipment_id IN ({','.join('?' * len(chunk))}) AND position > ? "
                "AND public_view IS NOT NULL", [*chunk, after])
        return [(UUID(i), p, v) for i, p, v in found]

    def exceptions(
        self, *, state: str | None, kind: str | None, limit: int, offset: int
    ) -> list[ExceptionRow]:
        where, params = _state_filter(state, kind, "?")
        rows = self._query(
            "SELECT tracking_number, kind, raised_at, cleared_at, details "  # noqa: S608
            f"FROM shipment_exceptions{where} ORDER BY raised_at, tracking_number, kind "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_exception(r, datetime.fromisoformat) for r in rows]

    def unfinished(self, limit: int) -> list[str]:
        rows = self._query(
            "SELECT tracking_number FROM shipment_status WHERE booked AND NOT terminal "
            "ORDER BY last_activity_at LIMIT ?", (limit,))
        return [r[0] for r in rows]

    def quiet_since(self, before: datetime, limit: int) -> list[str]:
        rows = self._query(
            "SELECT tracking_number FROM shipment_status WHERE booked AND NOT terminal "
            "AND NOT stalled AND last_activity_at < ? ORDER BY last_activity_at LIMIT ?",
            (self._ts(before), limit),
        )
        return [r[0] for r in rows]

    def customs_projected(self, entry_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        return self._projected("customs_entries", "entry_id", entry_ids)

    def customs_entry(self, entry_id: UUID) -> bytes | None:
        rows = self._query("SELECT view FROM customs_entries WHERE entry_id = ?", (entry_id.hex,))
        return rows[0][0] if rows else None

    def customs_entries(
        self, *, status: str | None, country: str | None, tracking_number: str | None,
        limit: int, offset: int,
    ) -> list[bytes]:
        where, params = _customs_filter(status, country, tracking_number, "?")
        rows = self._query(
            f"SELECT view FROM customs_entries{where} "  # noqa: S608
            "ORDER BY updated_at DESC, entry_id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [r[0] for r in rows]

    def customs_totals(self) -> list[CustomsTotal]:
        return totals(self._query(
            "SELECT country, status, currency, estimated, assessed FROM customs_entries"
        ))

    def reset(self) -> None:
        with self._transaction() as c:
            c.execute("DELETE FROM shipment_status")
            c.execute("DELETE FROM shipment_exceptions")
            c.execute("DELETE FROM customs_entries")
            c.execute("DELETE FROM view_positions WHERE view = ?", (self.name,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# Every query here reads or writes a few rows by key. Without statistics
# (autovacuum off, or a table that grew faster than it analyses) the planner
# guessed millions of rows for `= ANY(ids)`, and chose parallel plans with JIT
# compilation: 0.3-0.9 s per query instead of a few ms. Neither ever pays for
# itself on such queries.
SESSION_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0"


class PostgresViewStore(ViewStore):
    def __init__(self, conninfo: str, schema: str = "public", *, pool_size: int = 4) -> None:
        self.schema = schema
        # NOTIFY is database-wide: one channel per schema's views.
        self.channel = f"tracking_views_{schema}"[:63]
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=pool_size,
            kwargs=self._kwargs(),
            open=True,
        )
        self._conninfo, self._pool_size = conninfo, pool_size
        # The public view, the busiest read, asked from the event loop: a
        # worker thread per request cost 40 % of reads/s (uvicorn, 2 workers).
        # One pool per loop (a loop's connections cannot serve another),
        # with the task opening it: the first requests wait for it together.
        self._async_pools: dict[
            asyncio.AbstractEventLoop, tuple[AsyncConnectionPool, asyncio.Task[None]]
        ] = {}
        self._create()

    def _create(self) -> None:
        with self._pool.connection() as conn, conn.transaction():
            # Serialise creation: several processes may start at once.
            conn.execute("SELECT pg_advisory_xact_lock(724501)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS shipment_status (shipment_id uuid PRIMARY KEY, "
                "tracking_number text NOT NULL UNIQUE, booked boolean NOT NULL, status text, "
                "terminal boolean NOT NULL, stalled boolean NOT NULL, "
                "last_activity_at timestamptz NOT NULL, position bigint NOT NULL, "
                "projected bytea NOT NULL, public_view bytea, full_view bytea)"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS shipment_status_quiet ON shipment_status "
                "(last_activity_at) WHERE booked AND NOT terminal AND NOT stalled"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS shipment_exceptions (tracking_number text NOT NULL, "
                "kind text NOT NULL, raised_at timestamptz NOT NULL, cleared_at timestamptz, "
                "details text NOT NULL, PRIMARY KEY (tracking_number, kind, raised_at))"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS shipment_exceptions_open "
                "ON shipment_exceptions (raised_at) WHERE cleared_at IS NULL"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS view_positions "
                "(view text PRIMARY KEY, position bigint NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS customs_entries (entry_id uuid PRIMARY KEY, "
                "tracking_number text NOT NULL, country text NOT NULL, status text NOT NULL, "
                "currency text NOT NULL, estimated numeric, assessed numeric, "
                "declared_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, "
                "position bigint NOT NULL, projected bytea NOT NULL, view bytea NOT NULL)"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS customs_entries_by_number "
                "ON customs_entries (tracking_number)"
            )

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=tuple_row)
            return cur.execute(sql, params, prepare=True).fetchall()  # type: ignore[arg-type]

    def position(self) -> int:
        rows = self._query("SELECT position FROM view_positions WHERE view = %s", (self.name,))
        return rows[0][0] if rows else 0

    def projected(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        rows = self._query(
            "SELECT shipment_id, projected FROM shipment_status WHERE shipment_id = ANY(%s)",
            (list(shipment_ids),),
        )
        return {sid: bytes(doc) for sid, doc in rows}

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
        with self._pool.connection() as conn, conn.transaction():
            cur = conn.cursor(row_factory=tuple_row)
            cur.execute(
                "INSERT INTO view_positions VALUES (%s, 0) ON CONFLICT (view) DO NOTHING",
                (self.name,),
            )
            current = cur.execute(
                "SELECT position FROM view_positions WHERE view = %s FOR UPDATE", (self.name,)
            ).fetchone()
            if current is None or current[0] != after:
                raise ViewConflict(f"position is {current[0] if current else 0}, not {after}")
            if rows:
                cur.executemany(
                    f"INSERT INTO shipment_status ({_STATUS_COLUMNS}) VALUES "  # noqa: S608
                    "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (shipment_id) DO UPDATE SET "
                    "booked = EXCLUDED.booked, status = EXCLUDED.status, "
                    "terminal = EXCLUDED.terminal, stalled = EXCLUDED.stalled, "
                    "last_activity_at = EXCLUDED.last_activity_at, "
                    "position = EXCLUDED.position, projected = EXCLUDED.projected, "
                    "public_view = EXCLUDED.public_view, full_view = EXCLUDED.full_view",
                    [_status_values(r, lambda t: t) for r in rows],
                )
            if raised:
                cur.executemany(
                    "INSERT INTO shipment_exceptions VALUES (%s,%s,%s,NULL,%s) "
                    "ON CONFLICT DO NOTHING",
                    [(e.tracking_number, e.kind.value, e.raised_at, e.details) for e in raised],
                )
            closing = [
                (e.cleared_at, e.tracking_number, e.kind.value, e.raised_at)
                for e in cleared
                if e.cleared_at is not None
            ]
            if closing:
                cur.executemany(
                    "UPDATE shipment_exceptions SET cleared_at = %s WHERE tracking_number = %s "
                    "AND kind = %s AND raised_at = %s AND cleared_at IS NULL",
                    closing,
                )
            if customs:
                cur.executemany(
                    f"INSERT INTO customs_entries ({_CUSTOMS_COLUMNS}) VALUES "  # noqa: S608
                    "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (entry_id) DO UPDATE SET "
                    "status = EXCLUDED.status, estimated = EXCLUDED.estimated, "
                    "assessed = EXCLUDED.assessed, updated_at = EXCLUDED.updated_at, "
                    "position = EXCLUDED.position, projected = EXCLUDED.projected, "
                    "view = EXCLUDED.view",
                    [_customs_values(r, _same, _same, _same) for r in customs],
                )
            cur.execute(
                "UPDATE view_positions SET position = %s WHERE view = %s", (position, self.name)
            )
            # Delivered at commit: live streams (adapters/live.py) wake on it.
            cur.execute("SELECT pg_notify(%s, %s)", (self.channel, str(position)))

    def public_view(self, shipment_id: UUID) -> bytes | None:
        rows = self._query(
            "SELECT public_view FROM shipment_status WHERE shipment_id = %s", (shipment_id,)
        )
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    def full_view(self, shipment_id: UUID) -> bytes | None:
        rows = self._query(
            "SELECT full_view FROM shipment_status WHERE shipment_id = %s", (shipment_id,)
        )
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    def public_views_since(
        self, after: int, shipment_ids: Collection[UUID]
    ) -> list[tuple[UUID, int, bytes]]:
        rows = self._query(
            "SELECT shipment_id, position, public_view FROM shipment_status "
            "WHERE shipment_id = ANY(%s) AND position > %s AND public_view IS NOT NULL",
            (list(shipment_ids), after),
        )
        return [(i, p, bytes(v)) for i, p, v in rows]

    def exceptions(
        self, *, state: str | None, kind: str | None, limit: int, offset: int
    ) -> list[ExceptionRow]:
        where, params = _state_filter(state, kind, "%s")
        rows = self._query(
            "SELECT tracking_number, kind, raised_at, cleared_at, details "  # noqa: S608
            f"FROM shipment_exceptions{where} ORDER BY raised_at, tracking_number, kind "
            "LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        return [_exception(r, lambda t: t) for r in rows]

    def unfinished(self, limit: int) -> list[str]:
        rows = self._query(
            "SELECT tracking_number FROM shipment_status WHERE booked AND NOT terminal "
            "ORDER BY last_activity_at LIMIT %s", (limit,))
        return [r[0] for r in rows]

    def quiet_since(self, before: datetime, limit: int) -> list[str]:
        rows = self._query(
            "SELECT tracking_number FROM shipment_status WHERE booked AND NOT terminal "
            "AND NOT stalled AND last_activity_at < %s ORDER BY last_activity_at LIMIT %s",
            (before, limit),
        )
        return [r[0] for r in rows]

    def customs_projected(self, entry_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        rows = self._query(
            "SELECT entry_id, projected FROM customs_entries WHERE entry_id = ANY(%s)",
            (list(entry_ids),),
        )
        return {eid: bytes(doc) for eid, doc in rows}

    def customs_entry(self, entry_id: UUID) -> bytes | None:
        rows = self._query("SELECT view FROM customs_entries WHERE entry_id = %s", (entry_id,))
        return bytes(rows[0][0]) if rows else None

    def customs_entries(
        self, *, status: str | None, country: str | None, tracking_number: str | None,
        limit: int, offset: int,
    ) -> list[bytes]:
        where, params = _customs_filter(status, country, tracking_number, "%s")
        rows = self._query(
            f"SELECT view FROM customs_entries{where} "  # noqa: S608
            "ORDER BY updated_at DESC, entry_id DESC LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        return [bytes(r[0]) for r in rows]

    def customs_totals(self) -> list[CustomsTotal]:
        rows = self._query(
            "SELECT country, status, currency, count(*), coalesce(sum(estimated), 0), "
            "coalesce(sum(assessed), 0), count(assessed) FROM customs_entries "
            "GROUP BY country, status, currency ORDER BY country, status, currency"
        )
        return [
            CustomsTotal(country=c, status=st, currency=cur, entries=n, estimated=e,
                         assessed=a, assessed_entries=na)
            for c, st, cur, n, e, a, na in rows
        ]

    def reset(self) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("TRUNCATE shipment_status, shipment_exceptions, customs_entries")
            conn.execute("DELETE FROM view_positions WHERE view = %s", (self.name,))

    async def public_view_async(self, shipment_id: UUID) -> bytes | None:
        for attempt in (1, 2):
            pool = await self._async_pool()
            try:
                async with pool.connection() as conn:
                    cur = await conn.execute(
                        "SELECT public_view FROM shipment_status WHERE shipment_id = %s",
                        (shipment_id,), prepare=True,
                    )
                    row = await cur.fetchone()
                return bytes(row[0]) if row and row[0] is not None else None
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

    def _kwargs(self) -> dict[str, Any]:
        return {"options": f"-c search_path={self.schema} {SESSION_OPTIONS}", "autocommit": True}

    def close(self) -> None:
        self._pool.close()


def _same(value: Any) -> Any:
    return value


class PostgresListener:
    """Wakes a runner when the event store notifies its channel (LISTEN)."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo, self._channel = conninfo, channel
        self._conn: psycopg.Connection[Any] | None = None
        self._connect()

    def _connect(self) -> None:
        self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
        self._conn.execute(f'LISTEN "{self._channel}"')

    def wait(self, timeout: float) -> None:
        """Until a notification or ``timeout``. A lost connection is opened
        again (the runner reads the log after every wait, so a notification
        missed meanwhile delays nothing beyond one poll)."""
        try:
            if self._conn is None or self._conn.closed:
                self._connect()
            assert self._conn is not None
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.OperationalError:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
            self._conn = None
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
