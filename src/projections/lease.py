"""One projection runner at a time per read model, across processes: a
PostgreSQL session advisory lock per read model, held on a connection of the
lease's own.

PostgreSQL releases a session's advisory locks when the session ends, so a
runner SIGKILLed (its socket closed by the kernel) or cut off frees its
read models at once, and the runner waiting takes them at its next try
(``retry_every``). A runner that lost its lease connection holds nothing
until it has connected again and won the locks back. The views' positions
are still checked as each batch commits (``Database.commit``), so even a
runner that does not yet know it lost its lease writes nothing twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import psycopg

log = logging.getLogger(__name__)


class LeaseHeld(Exception):
    """Another session holds a read model's lease (its ``holders``: one line
    per read model, naming the PostgreSQL backend and its application)."""

    def __init__(self, holders: list[str]) -> None:
        super().__init__("; ".join(holders))
        self.holders = holders

# pg_locks shows a bigint advisory key as classid (its high 32 bits) and
# objid (its low 32 bits), objsubid 1; the shift wraps as the key's sign did.
_HELD = ("SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
         "WHERE locktype = 'advisory' AND objsubid = 1 AND pid = pg_backend_pid() AND granted")


def lock_key(schema: str, name: str) -> int:
    """A read model's advisory lock key (a signed 64-bit number), per schema."""
    digest = hashlib.blake2b(f"tracking-view:{schema}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class ReadModelLease:
    def __init__(self, conninfo: str, schema: str, names: Iterable[str], *,
                 retry_every: float = 1.0) -> None:
        self._conninfo = conninfo
        self.keys = {name: lock_key(schema, name) for name in names}
        self.retry_every = retry_every
        self._conn: psycopg.Connection[Any] | None = None
        self._held: set[str] = set()
        self._next_try = 0.0
        self._lock = threading.Lock()

    def held(self) -> set[str]:
        """The read models this runner may work on now: those whose locks its
        session still holds (checked on the database: a lost connection holds
        none), and any free one it could take (at most every ``retry_every``)."""
        with self._lock:
            try:
                self._refresh()
            except psycopg.Error as e:
                if self._held:
                    log.warning("lost the projection lease (%s); working on no view until "
                                "it is won back", e)
                self._held = set()
                self._close()
            return set(self._held)

    def _refresh(self) -> None:
        if self._conn is None or self._conn.closed:
            if time.monotonic() < self._next_try:
                return
            self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
        held_keys = {k for (k,) in self._conn.execute(_HELD).fetchall()}
        held = {n for n, k in self.keys.items() if k in held_keys}
        free = [n for n in self.keys if n not in held]
        if free and time.monotonic() >= self._next_try:
            self._next_try = time.monotonic() + self.retry_every
            rows = self._conn.execute(
                "SELECT n FROM unnest(%s::text[], %s::bigint[]) AS t(n, k) "
                "WHERE pg_try_advisory_lock(k)", (free, [self.keys[n] for n in free])
            ).fetchall()
            won = {n for (n,) in rows}
            if won:
                log.info("took the projection lease of %s", ", ".join(sorted(won)))
            held |= won
        self._held = held

    def acquire(self, wait: float = 0.0) -> None:
        """Take every read model's lock now, or within ``wait`` seconds (in
        PostgreSQL's lock queue, ahead of the runners retrying with
        pg_try_advisory_lock), or none: LeaseHeld names who holds them.
        For a task that must have them all before it starts (a rebuild)."""
        with self._lock:
            self._close()
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            names = sorted(self.keys)  # one order for every taker: no deadlock
            keys = [self.keys[n] for n in names]
            try:
                if wait > 0:  # one statement: the locks follow one another at once
                    conn.execute("SELECT set_config('lock_timeout', %s, false)",
                                 (f"{int(wait * 1000)}ms",))
                    with contextlib.suppress(psycopg.errors.LockNotAvailable):
                        conn.execute("SELECT count(pg_advisory_lock(k)) FROM unnest(%s::bigint[]) k",
                                     (keys,))
                else:
                    conn.execute("SELECT count(pg_try_advisory_lock(k)) FROM unnest(%s::bigint[]) k",
                                 (keys,))
                held = {k for (k,) in conn.execute(_HELD).fetchall()}
                missing = [n for n in names if self.keys[n] not in held]
                if missing:
                    raise LeaseHeld(self._holders(conn, missing))
            except BaseException:
                conn.close()  # and every lock taken with it
                raise
            self._conn, self._held = conn, set(names)
            log.info("took the projection lease of %s", ", ".join(names))

    def _holders(self, conn: psycopg.Connection[Any], names: list[str]) -> list[str]:
        rows = dict(conn.execute(
            "SELECT (l.classid::bigint << 32) | l.objid::bigint, format('backend pid %s "
            "(application %L, from %s, connected %s)', a.pid, a.application_name, "
            "coalesce(host(a.client_addr), 'a local socket'), "
            "to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ')) "
            "FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted").fetchall())
        return [f"{n}: held by {rows.get(self.keys[n], 'a session that has just let go')}"
                for n in names]

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
        self._next_try = time.monotonic() + self.retry_every

    def close(self) -> None:
        """Give every read model up (the session's locks go with it)."""
        with self._lock:
            self._close()
            self._held = set()
