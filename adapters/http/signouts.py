"""Console sessions signed out, kept where every worker process reads them:
the session cookie is signed and stateless (adapters/http/session.py), so a
sign-out is a record of its nonce until the cookie would have expired
anyway. One indexed lookup per console request; expired records are pruned
as new ones are added."""

from __future__ import annotations

import sqlite3
import threading
import time
from abc import ABC, abstractmethod

from psycopg_pool import ConnectionPool


class SignOuts(ABC):
    @abstractmethod
    def add(self, nonce: str, expires: int) -> None:
        """Record that the session ``nonce`` (valid until Unix time ``expires``) ended."""

    @abstractmethod
    def __contains__(self, nonce: str) -> bool: ...

    def close(self) -> None:
        """Release connections."""


class MemorySignOuts(SignOuts):
    """One process's sign-outs (tests, and a console with no database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended: dict[str, int] = {}

    def add(self, nonce: str, expires: int) -> None:
        now = time.time()
        with self._lock:
            self._ended = {n: e for n, e in self._ended.items() if e >= now}
            self._ended[nonce] = expires

    def __contains__(self, nonce: str) -> bool:
        return nonce in self._ended


_TABLE = "console_sign_outs"


class SQLiteSignOuts(SignOuts):
    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} "
                               "(nonce TEXT PRIMARY KEY, expires INTEGER NOT NULL)")

    def add(self, nonce: str, expires: int) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(f"DELETE FROM {_TABLE} WHERE expires < ?", (int(time.time()),))  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            self._conn.execute(f"INSERT OR IGNORE INTO {_TABLE} VALUES (?, ?)", (nonce, expires))  # noqa: S608
            self._conn.execute("COMMIT")

    def __contains__(self, nonce: str) -> bool:
        with self._lock:
            return self._conn.execute(f"SELECT 1 FROM {_TABLE} WHERE nonce = ?",  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                                      (nonce,)).fetchone() is not None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresSignOuts(SignOuts):
    def __init__(self, conninfo: str, schema: str = "public") -> None:
        # No connection held while nobody uses the console.
        self._pool = ConnectionPool(
            conninfo, min_size=0, max_size=2, open=True,
            kwargs={"options": f"-c search_path={schema}", "autocommit": True},
        )
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(724503)")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} "
                         "(nonce text PRIMARY KEY, expires bigint NOT NULL)")

    def add(self, nonce: str, expires: int) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(f"DELETE FROM {_TABLE} WHERE expires < %s", (int(time.time()),))  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            conn.execute(f"INSERT INTO {_TABLE} VALUES (%s, %s) ON CONFLICT DO NOTHING",  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                         (nonce, expires))

    def __contains__(self, nonce: str) -> bool:
        with self._pool.connection() as conn:
            return conn.execute(f"SELECT 1 FROM {_TABLE} WHERE nonce = %s",  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                                (nonce,)).fetchone() is not None

    def close(self) -> None:
        self._pool.close()
