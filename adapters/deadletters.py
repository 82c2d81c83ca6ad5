"""Dead letters: what arrived but cannot be a scan, kept with the raw bytes,
where it came from, when, and why, so nothing is silently dropped. Agents
list them and re-submit a corrected scan.

A dead letter's id is a digest of its topic and bytes: a redelivered
message (the broker did not see our acknowledgement) is stored once.

Personal data is redacted on the way in (``redact``), before any store
writes: a dead letter outlives any erasure, and a scan needs none of it to
be re-submitted. In a JSON payload the values of personal fields
(recipient, name, postcode, e-mail ...) and anything shaped like an e-mail
address become ``"[redacted]"``; other bytes keep only their e-mail
addresses redacted (a name in free text cannot be told from other words).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import msgspec
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from tracking.application import ScanOutcome, ScanResult, ShipmentService
from tracking.scan import Scan, Source


class DeadLetter(msgspec.Struct, kw_only=True):
    id: str
    received_at: datetime
    topic: str
    payload: bytes
    reason: str
    field: str | None = None
    resubmitted_at: datetime | None = None
    resubmitted_as: str | None = None  # the scan_id recorded in its place

    @staticmethod
    def make_id(topic: str, payload: bytes) -> str:
        return hashlib.sha256(topic.encode() + b"\0" + payload).hexdigest()[:32]


REDACTED = "[redacted]"
# Keys whose values are personal data wherever they appear in a payload.
PERSONAL_KEYS = frozenset({"recipient", "name", "postcode", "postal_code", "zip", "zipcode",
                           "email", "e_mail", "mail", "phone", "address", "addressee"})
_EMAIL = re.compile(r"[^@\s\"'<>,;:(){}\[\]]{1,64}@[^@\s\"'<>,;:(){}\[\]]+\.[A-Za-z]{2,}")


def _redacted(value: object) -> tuple[object, bool]:
    if isinstance(value, dict):
        out, changed = {}, False
        for k, v in value.items():
            if isinstance(k, str) and k.lower() in PERSONAL_KEYS and v not in (None, REDACTED):
                out[k], changed = REDACTED, True
            else:
                out[k], c = _redacted(v)
                changed |= c
        return out, changed
    if isinstance(value, list):
        items = [_redacted(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    if isinstance(value, str) and _EMAIL.search(value):
        return _EMAIL.sub(REDACTED, value), True
    return value, False


def redact(letter: DeadLetter) -> DeadLetter:
    """The letter without the personal data its payload may carry (the id
    stays the digest of what arrived, so a redelivery is still one letter)."""
    try:
        # Nested deeper than msgspec (or the walk below) goes: RecursionError.
        # Whatever arrived is kept, redacted as text: a letter never fails.
        clean_doc, changed = _redacted(msgspec.json.decode(letter.payload))
    except (msgspec.DecodeError, RecursionError):
        text = letter.payload.decode("utf-8", "surrogateescape")
        clean = _EMAIL.sub(REDACTED, text)
        if clean == text:
            return letter
        payload = clean.encode("utf-8", "surrogateescape")
    else:
        if not changed:
            return letter
        payload = msgspec.json.encode(clean_doc)
    return msgspec.structs.replace(letter, payload=payload,
                                   reason=f"{letter.reason} (personal data redacted)")


class DeadLetterStore(ABC):
    def add(self, letters: Sequence[DeadLetter]) -> None:
        """Store durably (idempotent by id) before the message is
        acknowledged, personal data redacted."""
        self._add([redact(x) for x in letters])

    @abstractmethod
    def _add(self, letters: Sequence[DeadLetter]) -> None: ...

    @abstractmethod
    def list(self, *, pending_only: bool, limit: int, offset: int) -> list[DeadLetter]: ...

    @abstractmethod
    def get(self, letter_id: str) -> DeadLetter | None: ...

    @abstractmethod
    def mark_resubmitted(self, letter_id: str, scan_id: str, at: datetime) -> None: ...

    @abstractmethod
    def count(self) -> int: ...

    def close(self) -> None:
        """Release connections."""


class MemoryDeadLetterStore(DeadLetterStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._letters: dict[str, DeadLetter] = {}

    def _add(self, letters: Sequence[DeadLetter]) -> None:
        with self._lock:
            for letter in letters:
                self._letters.setdefault(letter.id, letter)

    def list(self, *, pending_only: bool, limit: int, offset: int) -> list[DeadLetter]:
        with self._lock:
            found = [x for x in self._letters.values() if not pending_only or x.resubmitted_at is None]
        found.sort(key=lambda x: (x.received_at, x.id))
        return found[offset : offset + limit]

    def get(self, letter_id: str) -> DeadLetter | None:
        return self._letters.get(letter_id)

    def mark_resubmitted(self, letter_id: str, scan_id: str, at: datetime) -> None:
        with self._lock:
            letter = self._letters[letter_id]
            self._letters[letter_id] = msgspec.structs.replace(
                letter, resubmitted_at=at, resubmitted_as=scan_id
            )

    def count(self) -> int:
        return len(self._letters)


class NoSuchDeadLetter(LookupError):
    """Raised by ``resubmit`` for an id that is not a dead letter."""


class AlreadyResubmitted(Exception):
    """Raised by ``resubmit`` for a dead letter already recorded as a scan."""


def resubmit(letters: DeadLetterStore, service: ShipmentService, letter_id: str, scan: Scan,
             source: Source | None = None) -> ScanOutcome:
    """Record ``scan`` in the place of a dead letter (the corrected scan an
    agent sends, or the stored one parsed again) and mark the letter, unless
    the scan is refused again: then the letter stays pending. The HTTP
    endpoint and ``tracking dead-letters resubmit`` both come here."""
    letter = letters.get(letter_id)
    if letter is None:
        raise NoSuchDeadLetter(f"no dead letter {letter_id}")
    if letter.resubmitted_at is not None:
        raise AlreadyResubmitted(
            f"dead letter {letter_id} was already re-submitted as {letter.resubmitted_as}")
    outcome = service.record_scan(scan, source)
    if outcome.result is not ScanResult.REJECTED:
        letters.mark_resubmitted(letter_id, scan.scan_id, service.clock())
    return outcome


class Resubmitted(NamedTuple):
    """What became of one dead letter resubmitted as stored: its outcome,
    or why it was not recorded (``refused``)."""

    letter_id: str
    outcome: ScanOutcome | None = None
    refused: str | None = None

    def line(self) -> str:
        o = self.outcome
        if o is None:
            return f"{self.letter_id}: {self.refused}"
        if o.result is ScanResult.REJECTED:
            return f"{self.letter_id}: refused again: {o.field}: {o.reason}"
        return f"{self.letter_id}: {o.result.value} as scan {o.scan_id} ({o.tracking_number})"

    @property
    def recorded(self) -> bool:
        return self.outcome is not None and self.outcome.result is not ScanResult.REJECTED


def resubmit_stored(letters: DeadLetterStore, service: ShipmentService, ids: Sequence[str],
                    parse: Callable[[DeadLetter], Scan | str],
                    source: Source | None = None) -> list[Resubmitted]:
    """Bulk resubmission: each dead letter's stored message parsed again
    (``parse`` answers the scan, or why it still is none) and recorded in
    its place, as ``resubmit`` does one; the others go on when one is
    refused. The console's bulk resubmit and the CLI's both come here."""
    done = []
    for letter_id in dict.fromkeys(ids):
        letter = letters.get(letter_id)
        scan = parse(letter) if letter is not None else f"no dead letter {letter_id}"
        if isinstance(scan, str):
            done.append(Resubmitted(letter_id, refused=scan))
            continue
        try:
            done.append(Resubmitted(letter_id, resubmit(letters, service, letter_id, scan, source)))
        except (NoSuchDeadLetter, AlreadyResubmitted) as e:
            done.append(Resubmitted(letter_id, refused=str(e)))
    return done


_COLUMNS = "id, received_at, topic, payload, reason, field, resubmitted_at, resubmitted_as"


class SQLiteDeadLetterStore(DeadLetterStore):
    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS dead_letters (id TEXT PRIMARY KEY, received_at TEXT NOT NULL, "
                "topic TEXT NOT NULL, payload BLOB NOT NULL, reason TEXT NOT NULL, field TEXT, "
                "resubmitted_at TEXT, resubmitted_as TEXT)"
            )

    @staticmethod
    def _row(r: Sequence[object]) -> DeadLetter:
        return DeadLetter(
            id=str(r[0]), received_at=datetime.fromisoformat(str(r[1])), topic=str(r[2]),
            payload=bytes(r[3]),  # type: ignore[arg-type]
            reason=str(r[4]), field=r[5],  # type: ignore[arg-type]
            resubmitted_at=datetime.fromisoformat(str(r[6])) if r[6] else None,
            resubmitted_as=r[7],  # type: ignore[arg-type]
        )

    def _add(self, letters: Sequence[DeadLetter]) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                f"INSERT OR IGNORE INTO dead_letters ({_COLUMNS}) VALUES (?,?,?,?,?,?,NULL,NULL)",
                [(x.id, x.received_at.astimezone(UTC).isoformat(), x.topic, x.payload, x.reason,
                  x.field) for x in letters],
            )
            self._conn.execute("COMMIT")

    def list(self, *, pending_only: bool, limit: int, offset: int) -> list[DeadLetter]:
        where = " WHERE resubmitted_at IS NULL" if pending_only else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM dead_letters{where} ORDER BY received_at, id LIMIT ? OFFSET ?",  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                (limit, offset),
            ).fetchall()
        return [self._row(r) for r in rows]

    def get(self, letter_id: str) -> DeadLetter | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM dead_letters WHERE id = ?", (letter_id,)  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            ).fetchone()
        return self._row(row) if row else None

    def mark_resubmitted(self, letter_id: str, scan_id: str, at: datetime) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE dead_letters SET resubmitted_at = ?, resubmitted_as = ? WHERE id = ?",
                (at.astimezone(UTC).isoformat(), scan_id, letter_id),
            )

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresDeadLetterStore(DeadLetterStore):
    def __init__(self, conninfo: str, schema: str = "public") -> None:
        self._pool = ConnectionPool(
            conninfo, min_size=1, max_size=2, open=True,
            kwargs={"options": f"-c search_path={schema}", "autocommit": True},
        )
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(724502)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS dead_letters (id text PRIMARY KEY, "
                "received_at timestamptz NOT NULL, topic text NOT NULL, payload bytea NOT NULL, "
                "reason text NOT NULL, field text, resubmitted_at timestamptz, resubmitted_as text)"
            )

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        with self._pool.connection() as conn:
            return conn.cursor(row_factory=tuple_row).execute(sql, params).fetchall()  # type: ignore[arg-type]

    @staticmethod
    def _row(r: Sequence[object]) -> DeadLetter:
        return DeadLetter(
            id=str(r[0]), received_at=r[1], topic=str(r[2]), payload=bytes(r[3]),  # type: ignore[arg-type]
            reason=str(r[4]), field=r[5], resubmitted_at=r[6], resubmitted_as=r[7],  # type: ignore[arg-type]
        )

    def _add(self, letters: Sequence[DeadLetter]) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.cursor().executemany(
                f"INSERT INTO dead_letters ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,NULL,NULL) "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                "ON CONFLICT (id) DO NOTHING",
                [(x.id, x.received_at, x.topic, x.payload, x.reason, x.field) for x in letters],
            )

    def list(self, *, pending_only: bool, limit: int, offset: int) -> list[DeadLetter]:
        where = " WHERE resubmitted_at IS NULL" if pending_only else ""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM dead_letters{where} ORDER BY received_at, id LIMIT %s OFFSET %s",  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            (limit, offset),
        )
        return [self._row(r) for r in rows]

    def get(self, letter_id: str) -> DeadLetter | None:
        rows = self._query(f"SELECT {_COLUMNS} FROM dead_letters WHERE id = %s", (letter_id,))  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
        return self._row(rows[0]) if rows else None

    def mark_resubmitted(self, letter_id: str, scan_id: str, at: datetime) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE dead_letters SET resubmitted_at = %s, resubmitted_as = %s WHERE id = %s",
                (at, scan_id, letter_id),
            )

    def count(self) -> int:
        return int(self._query("SELECT count(*) FROM dead_letters", ())[0][0])  # type: ignore[arg-type]

    def close(self) -> None:
        self._pool.close()
