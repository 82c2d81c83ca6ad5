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

# An earlier message of the same receiver and shipment, not yet done.
_EARLIER = (
    "SELECT 1 FROM outbox_messages e LEFT JOIN outbox_deliveries f "
    "ON f.message_id = e.message_id WHERE e.channel = m.channel "
    "AND e.shipment_id = m.shipment_id AND (f.state IS NULL OR f.state = ?)"
)


class Due(NamedTuple):
    """A message waiting, without its body (read for the ones sent)."""

    message_id: str
    channel: str
    shipment_id: Any
    position: int
    attempts: int
    next_at: datetime | None


class Outcome(NamedTuple):
    """What became of one attempt at a message (``attempt`` None: none was
    made, the message is cancelled), written with others in one transaction."""

    message_id: str
    attempt: int | None
    at: datetime
    status: int | None
    error: str | None
    duration_ms: int
    state: str
    next_at: datetime


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
            f"AND NOT EXISTS ({_EARLIER} AND (e.position < m.position OR "
            "(e.position = m.position AND e.ordinal < m.ordinal))) "
            "ORDER BY m.position, m.ordinal LIMIT ?",
            (from_position, RETRYING, EMAIL, self.db.time(now), RETRYING, limit))
        read_time = self.db.read_time
        return [Due(mid, channel, sid, pos, attempts or 0,
                    read_time(at) if at is not None else None)
                for mid, channel, sid, pos, attempts, at in rows]

    def waiting(self, from_position: int = 0, *, floor: int | None = None,
                per_receiver: int = 1000,
                limit: int = 5000) -> list[tuple[Message, int, datetime | None]]:
        """The messages not yet done from a log position on, bodies and all,
        in log order, with their attempts so far and when the next is due:
        at most ``per_receiver`` of each receiver (its first ones), so that a
        receiver with a long queue leaves room for the others, and ``limit``
        in all. A message with an earlier one of its shipment waiting before
        ``floor`` (``from_position`` unless given; a replay made it wait
        again) is left for the read that reaches that one. One query; the
        sender keeps them in memory between reads."""
        columns = ", ".join(f"m.{c}" for c in MESSAGE_COLUMNS)
        rows = self.db.query(
            f"SELECT {columns}, w.attempts, w.next_at FROM ("  # nosec B608: fixed table/column names; every value is a parameter
            "SELECT m.message_id AS id, m.position AS p, m.ordinal AS o, d.attempts, d.next_at, "
            "ROW_NUMBER() OVER (PARTITION BY m.channel ORDER BY m.position, m.ordinal) AS n "
            f"FROM {_WAITING} AND NOT EXISTS ({_EARLIER} AND e.position < ?)) w "
            "JOIN outbox_messages m ON m.message_id = w.id "
            "WHERE w.n <= ? ORDER BY w.p, w.o LIMIT ?",
            (from_position, RETRYING, EMAIL, RETRYING,
             from_position if floor is None else floor, per_receiver, limit))
        read_time, message = self.db.read_time, self.outbox.message
        return [(message(row[:-2]), row[-2] or 0,
                 read_time(row[-1]) if row[-1] is not None else None) for row in rows]

    def last_position(self) -> int:
        """The log position of the last message decided (0: none yet)."""
        found = self.db.query_one("SELECT MAX(position) FROM outbox_messages")
        return found[0] if found and found[0] is not None else 0

    def record_many(self, outcomes: Sequence[Outcome]) -> None:
        """Many attempts and cancellations, each as ``record`` and ``cancel``
        write them, in one transaction: a sender's outcomes of a moment are
        committed together (a transaction each cost ~8 ms a delivery)."""
        if not outcomes:
            return
        time = self.db.time
        tried = [o for o in outcomes if o.attempt is not None]
        with self.db.transaction() as w:
            if tried:
                w.executemany(
                    "INSERT INTO outbox_attempts VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                    [(o.message_id, o.attempt, time(o.at), o.status, o.error, o.duration_ms)
                     for o in tried])
                w.executemany(
                    "INSERT INTO outbox_deliveries VALUES (?,?,?,?,?) ON CONFLICT (message_id) "
                    "DO UPDATE SET state = excluded.state, attempts = excluded.attempts, "
                    "next_at = excluded.next_at, done_at = excluded.done_at",
                    [(o.message_id, o.state, o.attempt, time(o.next_at),
                      time(o.at) if o.state != RETRYING else None) for o in tried])
            cancelled = [(o.message_id, CANCELLED, time(o.at), time(o.at))
                         for o in outcomes if o.attempt is None]
            if cancelled:
                w.executemany(
                    "INSERT INTO outbox_deliveries VALUES (?,?,0,?,?) ON CONFLICT (message_id) "
                    "DO UPDATE SET state = excluded.state, done_at = excluded.done_at", cancelled)

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

