"""The recipients' data keys, in a table of their own (``personal_data_keys``,
beside the event store), each wrapped by the master key (TRACKING_MASTER_KEY)
with AES-GCM bound to its subject: a copy of the table without the master
key opens nothing, and erasing a subject deletes its key, leaving only a
tombstone (so no new key is made for it).

The SQLite store writes with ``secure_delete`` on and checkpoints its WAL
after an erasure, so the deleted key's bytes are overwritten in the file,
not just unlinked from the b-tree. PostgreSQL's old row versions go at the
next VACUUM (never in a dump).

Beside the keys, the recipients' name index (``personal_data_index``):
one row per subject and word, the word kept only as its ``BlindIndex`` tag
under a key derived from the master key; erasing a subject deletes its rows
in the same transaction as its key.
"""

from __future__ import annotations

import base64
import logging
import os
import sqlite3
import threading
from datetime import UTC, datetime
from collections.abc import Collection
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg_pool import ConnectionPool

from tracking.personal_data import (
    DATA_KEY_BYTES,
    FOUND_AT_MOST,
    BlindIndex,
    KeyStore,
    MemoryKeyStore,
    PersonalDataErased,
)

from adapters.settings import ConfigError, Settings

log = logging.getLogger("tracking.keys")

MASTER_KEY_BYTES = 32
_NONCE = 12


def parse_master_key(text: str) -> bytes:
    """TRACKING_MASTER_KEY: 32 bytes, base64 (standard or URL-safe)."""
    text = text.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        key = b""
    if len(key) != MASTER_KEY_BYTES:
        raise ConfigError("TRACKING_MASTER_KEY: expected 32 bytes in base64 "
                          "(python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')")
    return key


class _Wrapper:
    """Wraps data keys with the master key, each bound to its subject."""

    def __init__(self, master: bytes) -> None:
        self._aead = AESGCM(master)

    def wrap(self, subject: str, key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, key, subject.encode())

    def unwrap(self, subject: str, wrapped: bytes) -> bytes:
        return self._aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], subject.encode())

    def found(self, subject: str, row: tuple[object, ...] | None, *, create: bool) -> bytes | None:
        """The data key of a row read (none: no row; a tombstone: erased)."""
        if row is None:
            return None
        if row[0] is None:
            if create:
                raise PersonalDataErased(f"the personal data of shipment {subject} was erased; "
                                         "it cannot be recorded again")
            return None
        try:
            return self.unwrap(subject, bytes(row[0]))  # type: ignore[arg-type]
        except InvalidTag:
            raise ConfigError("TRACKING_MASTER_KEY: not the key the stored data keys were "
                              "wrapped with (every process needs the same one)") from None


_INDEX_TABLE = ("CREATE TABLE IF NOT EXISTS personal_data_index (subject text NOT NULL, "
                "tag {blob} NOT NULL, PRIMARY KEY (subject, tag))")
_INDEX_TAG = "CREATE INDEX IF NOT EXISTS personal_data_index_tag ON personal_data_index (tag)"
# A tag per word, only while the subject's key lives (an erasure racing a booking wins).
_INDEX_ROWS = ("INSERT INTO personal_data_index (subject, tag) SELECT {p}, tag FROM {tags} "
               "WHERE EXISTS (SELECT 1 FROM personal_data_keys WHERE subject = {p} AND "
               "wrapped IS NOT NULL) ON CONFLICT (subject, tag) DO NOTHING")
_FIND = ("SELECT subject FROM personal_data_index WHERE tag IN ({tags}) GROUP BY subject "
         "HAVING count(*) = {p} ORDER BY subject LIMIT {p}")
_UNINDEX = "DELETE FROM personal_data_index WHERE subject = {p}"


def pool(conninfo: str, schema: str) -> ConnectionPool:
    """A small autocommit pool on ``schema``, for a store's own table."""
    return ConnectionPool(conninfo, min_size=0, max_size=2, open=True,
                          kwargs={"options": f"-c search_path={schema}", "autocommit": True})


class SQLiteKeyStore:
    def __init__(self, path: str, master: bytes) -> None:
        self._wrapper = _Wrapper(master)
        self._blind = BlindIndex.derived(master)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA secure_delete = ON")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS personal_data_keys (subject TEXT PRIMARY KEY, "
                "wrapped BLOB, created_at TEXT NOT NULL, erased_at TEXT)")
            self._conn.execute(_INDEX_TABLE.format(blob="BLOB") + " WITHOUT ROWID")
            self._conn.execute(_INDEX_TAG)

    def key(self, subject: str, *, create: bool = False) -> bytes | None:
        with self._lock:
            if create:
                made = os.urandom(DATA_KEY_BYTES)
                self._conn.execute(
                    "INSERT OR IGNORE INTO personal_data_keys (subject, wrapped, created_at) "
                    "VALUES (?, ?, ?)",
                    (subject, self._wrapper.wrap(subject, made), datetime.now(UTC).isoformat()))
            row = self._conn.execute(
                "SELECT wrapped FROM personal_data_keys WHERE subject = ?", (subject,)).fetchone()
        return self._wrapper.found(subject, row, create=create)

    def erase(self, subject: str, at: datetime) -> bool:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            had = self._conn.execute(
                "UPDATE personal_data_keys SET wrapped = NULL, erased_at = ? "
                "WHERE subject = ? AND wrapped IS NOT NULL",
                (at.astimezone(UTC).isoformat(), subject)).rowcount
            self._conn.execute(
                "INSERT OR IGNORE INTO personal_data_keys (subject, wrapped, created_at, erased_at) "
                "VALUES (?, NULL, ?, ?)", (subject, at.isoformat(), at.isoformat()))
            self._conn.execute(_UNINDEX.format(p="?"), (subject,))
            self._conn.execute("COMMIT")
            # The overwritten page may sit in the WAL until a checkpoint: copy it back now.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return bool(had)

    def index(self, subject: str, words: Collection[str]) -> None:
        tags = self._blind.tags(words)
        if not tags:
            return
        # One statement, so one commit, whatever the number of words.
        listed = "(SELECT column1 AS tag FROM (VALUES " + ", ".join(["(?)"] * len(tags)) + "))"  # nosec B608: fixed table/column names; every value is a parameter
        with self._lock:
            self._conn.execute(_INDEX_ROWS.format(p="?", tags=listed), (subject, *tags, subject))

    def find(self, words: Collection[str], limit: int = FOUND_AT_MOST) -> list[str]:
        tags = self._blind.tags(words)
        if not tags:
            return []
        query = _FIND.format(tags=", ".join("?" * len(tags)), p="?")
        with self._lock:
            rows = self._conn.execute(query, (*tags, len(tags), limit)).fetchall()
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresKeyStore:
    def __init__(self, conninfo: str, schema: str, master: bytes) -> None:
        self._wrapper = _Wrapper(master)
        self._blind = BlindIndex.derived(master)
        self._pool = pool(conninfo, schema)
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(724503)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS personal_data_keys (subject text PRIMARY KEY, "
                "wrapped bytea, created_at timestamptz NOT NULL, erased_at timestamptz)")
            conn.execute(_INDEX_TABLE.format(blob="bytea"))
            conn.execute(_INDEX_TAG)

    def key(self, subject: str, *, create: bool = False) -> bytes | None:
        with self._pool.connection() as conn:
            if create:
                made = os.urandom(DATA_KEY_BYTES)
                conn.execute(
                    "INSERT INTO personal_data_keys (subject, wrapped, created_at) "
                    "VALUES (%s, %s, now()) ON CONFLICT (subject) DO NOTHING",
                    (subject, self._wrapper.wrap(subject, made)))
            row = conn.execute("SELECT wrapped FROM personal_data_keys WHERE subject = %s",
                               (subject,)).fetchone()
        return self._wrapper.found(subject, row, create=create)

    def erase(self, subject: str, at: datetime) -> bool:
        with self._pool.connection() as conn, conn.transaction():
            had = conn.execute(
                "UPDATE personal_data_keys SET wrapped = NULL, erased_at = %s "
                "WHERE subject = %s AND wrapped IS NOT NULL", (at, subject)).rowcount
            conn.execute(
                "INSERT INTO personal_data_keys (subject, wrapped, created_at, erased_at) "
                "VALUES (%s, NULL, %s, %s) ON CONFLICT (subject) DO NOTHING", (subject, at, at))
            conn.execute(_UNINDEX.format(p="%s"), (subject,))
        return bool(had)

    def index(self, subject: str, words: Collection[str]) -> None:
        tags = self._blind.tags(words)
        if not tags:
            return
        with self._pool.connection() as conn:  # one statement: one round trip
            conn.execute(_INDEX_ROWS.format(p="%s", tags="unnest(%s::bytea[]) AS tag"),
                         (subject, tags, subject))

    def find(self, words: Collection[str], limit: int = FOUND_AT_MOST) -> list[str]:
        tags = self._blind.tags(words)
        if not tags:
            return []
        query = _FIND.format(tags=", ".join(["%s"] * len(tags)), p="%s")
        with self._pool.connection() as conn:
            rows = conn.execute(query, (*tags, len(tags), limit)).fetchall()
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        self._pool.close()


def master_key(settings: Settings) -> bytes:
    """TRACKING_MASTER_KEY, or a development key generated once and kept in
    a file beside the SQLite database (or under ./var/), with a loud warning:
    whoever reads that file reads every recipient not yet erased."""
    if settings.master_key is not None:
        return settings.master_key
    env = settings.eventstore_env()
    place = Path(env["SQLITE_DBNAME"] + ".master-key") if "SQLITE_DBNAME" in env \
        else Path("var/dev-master.key")
    place.parent.mkdir(parents=True, exist_ok=True)
    if not place.exists():
        # Written aside, then linked into place: a process starting beside
        # this one reads the whole key or makes none, never half of one.
        aside = place.with_name(f"{place.name}.{os.getpid()}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(os.urandom(MASTER_KEY_BYTES)).decode())
        try:
            os.link(aside, place)
        except FileExistsError:
            pass  # another process made it first: theirs is the key
        finally:
            aside.unlink()
    key = parse_master_key(place.read_text())
    log.warning("TRACKING_MASTER_KEY is not set: personal data is sealed with a DEVELOPMENT key "
                "kept in %s. Set TRACKING_MASTER_KEY for anything but development.", place)
    return key


def build_key_store(settings: Settings) -> KeyStore:
    """The data keys' store, in the configured database."""
    env = settings.eventstore_env()
    if settings.is_postgres:
        conninfo, schema = settings.postgres_conninfo()
        return PostgresKeyStore(conninfo, schema, master_key(settings))
    if env["SQLITE_DBNAME"] == ":memory:":
        return MemoryKeyStore()
    return SQLiteKeyStore(env["SQLITE_DBNAME"], master_key(settings))
