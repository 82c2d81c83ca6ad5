"""What the sender did with each outbox message: its state (retrying,
delivered, given up, cancelled) and every attempt (when, the HTTP status or
the error, how long it took). Tables of the sender's own beside the outbox
view, in the same database; a rebuild of the outbox leaves them alone, and
the messages it decides again (same ids) are found delivered already."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

import msgspec

from projections.outbox import EMAIL, MESSAGE_COLUMNS, Message, SqlOutboxView
from projections.sql import Database

RETRYING, DELIVERED, FAILED, CANCELLED = "retrying", "delivered", "failed", "cancelled"
_TABLES = {
    "outbox_deliveries": (
        "message_id {text} PRIMARY KEY, state {text} NOT NULL, attempts {int} NOT NULL, "
        "next_at {time} NOT NULL, done_at {time}"
    ),
    "outbox_attempts": (
        "message_id {text} NOT NULL, attempt {int} NOT NULL, at {time} NOT NULL, "
        "status {int}, error {text}, duration_ms {int} NOT NULL, "
        "PRIMARY KEY (message_id, attempt)"
    ),
}


# Messages not yet delivered, given up or cancelled, of active subscriptions
# (or customers' e-mails), from a log position on.
_WAITING = (
    "outbox_messages m LEFT JOIN outbox_deliveries d ON d.message_id = m.message_id "
    "LEFT JOIN webhook_subscriptions s ON s.webhook_id = m.webhook_id "
    "WHERE m.position >= ? AND (d.state IS NULL OR d.state = ?) AND (m.channel = ? OR s.active)"
)


class Due(NamedTuple):
    """A message waiting, without its body (read for the ones sent)."""

    message_id: str
    channel: str
    shipment_id: Any
    position: int
    attempts: int
    next_at: datetime | None


class Attempt(msgspec.Struct, kw_only=True):
    """One try at delivering one message (GET /api/v1/webhooks/{id}/deliveries)."""

    message_id: str
    type: str
    tracking_number: str
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    state: str


class DeliveryStore:
    def __init__(self, db: Database, outbox: SqlOutboxView) -> None:
        self.db, self.outbox = db, outbox
        db.create("outbox_deliveries", _TABLES)

    def due(self, now: datetime, limit: int = 500, *, from_position: int = 0) -> list[Due]:
        """The messages to send now, in log order: for each (receiver,
        shipment), its first message not yet done, if it is due (not waiting
        out a backoff, its subscription active). Read from a log position on,
        where the sender found every earlier message done; whether an earlier
        one of the same shipment waits is asked of all of them, since a
        replay makes old messages wait again."""
        rows = self.db.query(
            "SELECT m.message_id, m.channel, m.shipment_id, m.position, d.attempts, d.next_at "  # nosec B608: fixed table/column names; every value is a parameter
            f"FROM {_WAITING} AND (d.state IS NULL OR d.next_at <= ?) "
            "AND NOT EXISTS (SELECT 1 FROM outbox_messages e "
            "LEFT JOIN outbox_deliveries f ON f.message_id = e.message_id "
            "WHERE e.channel = m.channel AND e.shipment_id = m.shipment_id "
            "AND (e.position < m.position OR (e.position = m.position AND e.ordinal < m.ordinal)) "
            "AND (f.state IS NULL OR f.state = ?)) "
            "ORDER BY m.position, m.ordinal LIMIT ?",
            (from_position, RETRYING, EMAIL, self.db.time(now), RETRYING, limit))
        read_time = self.db.read_time
        return [Due(mid, channel, sid, pos, attempts or 0,
                    read_time(at) if at is not None else None)
                for mid, channel, sid, pos, attempts, at in rows]

    def first_waiting(self, from_position: int = 0) -> int | None:
        """The log position of the first message not yet done (None: none)."""
        found = self.db.query_one(
            f"SELECT m.position FROM {_WAITING} ORDER BY m.position LIMIT 1",  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            (from_position, RETRYING, EMAIL))
        return found[0] if found else None

    def messages(self, ids: Sequence[str]) -> dict[str, Message]:
        """The messages of these ids, bodies and all."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.query(f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM outbox_messages "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
                             f"WHERE message_id IN ({marks})", list(ids))
        found = [self.outbox.message(r) for r in rows]
        return {m.message_id: m for m in found}

    def record(self, message_id: str, attempt: int, *, at: datetime, status: int | None,
               error: str | None, duration_ms: int, state: str, next_at: datetime) -> None:
        """An attempt, and the message's state after it, in one transaction."""
        time = self.db.time
        with self.db.transaction() as w:
            w.execute("INSERT INTO outbox_attempts VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                      (message_id, attempt, time(at), status, error, duration_ms))
            w.execute(
                "INSERT INTO outbox_deliveries VALUES (?,?,?,?,?) ON CONFLICT (message_id) DO "
                "UPDATE SET state = excluded.state, attempts = excluded.attempts, "
                "next_at = excluded.next_at, done_at = excluded.done_at",
                (message_id, state, attempt, time(next_at),
                 time(at) if state != RETRYING else None))

    def cancel(self, message_id: str, at: datetime) -> None:
        """Nothing more is tried for this message (its address was erased)."""
        with self.db.transaction() as w:
            w.execute("INSERT INTO outbox_deliveries VALUES (?,?,0,?,?) ON CONFLICT (message_id) "
                      "DO UPDATE SET state = excluded.state, done_at = excluded.done_at",
                      (message_id, CANCELLED, self.db.time(at), self.db.time(at)))

    def replay(self, webhook_id: UUID, since: datetime, now: datetime) -> int:
        """Send a subscription's messages from ``since`` again (new attempts,
        the same ids); how many."""
        ids = [m.message_id for m in self.outbox.messages(webhook_id, since=since)]
        with self.db.transaction() as w:
            w.executemany("INSERT INTO outbox_deliveries VALUES (?,?,0,?,NULL) ON CONFLICT "
                          "(message_id) DO UPDATE SET state = excluded.state, "
                          "next_at = excluded.next_at, done_at = NULL",
                          [(i, RETRYING, self.db.time(now)) for i in ids])
        return len(ids)

    def attempts(self, webhook_id: UUID, limit: int, offset: int) -> list[Attempt]:
        """A subscription's attempts, newest first."""
        rows = self.db.query(
            "SELECT a.message_id, m.kind, m.tracking_number, a.attempt, a.at, a.status, a.error, "
            "a.duration_ms, COALESCE(d.state, ?) FROM outbox_attempts a "
            "JOIN outbox_messages m ON m.message_id = a.message_id "
            "LEFT JOIN outbox_deliveries d ON d.message_id = a.message_id "
            "WHERE m.webhook_id = ? ORDER BY a.at DESC, a.attempt DESC LIMIT ? OFFSET ?",
            (RETRYING, self.db.key(webhook_id), limit, offset))
        return [Attempt(message_id=mid, type=kind, tracking_number=tn, attempt=n,
                        at=self.db.read_time(at), status_code=status, error=error,
                        duration_ms=ms, state=state)
                for mid, kind, tn, n, at, status, error, ms, state in rows]

    def counts(self) -> dict[str, Any]:
        """Messages by state (unsent: not yet tried), and when the oldest
        message not yet delivered was decided (None: none waits)."""
        found: dict[str, Any] = dict.fromkeys((RETRYING, DELIVERED, FAILED, CANCELLED, "unsent"), 0)
        for state, n in self.db.query(
                "SELECT COALESCE(d.state, 'unsent'), COUNT(*) FROM outbox_messages m "
                "LEFT JOIN outbox_deliveries d ON d.message_id = m.message_id "
                "GROUP BY COALESCE(d.state, 'unsent')"):
            found[state] = n
        oldest = self.db.query_one(
            "SELECT MIN(m.created_at) FROM outbox_messages m "
            "LEFT JOIN outbox_deliveries d ON d.message_id = m.message_id "
            "LEFT JOIN webhook_subscriptions s ON s.webhook_id = m.webhook_id "
            "WHERE (d.state IS NULL OR d.state = ?) AND (m.channel = ? OR s.active)",
            (RETRYING, EMAIL))
        found["oldest"] = (self.db.read_time(oldest[0])
                           if oldest and oldest[0] is not None else None)
        return found

    def close(self) -> None:
        """The database is the views' (closed with them)."""

