"""The sender's queues, in memory: for each receiver (a webhook
subscription, or the customers' mail server), for each shipment, the
messages not yet done, in log order, as last read from the outbox.

Only the head of a shipment's queue is ever sent, and the one after it only
once the head's outcome is committed (``done``): so a shipment's messages
reach each receiver in order, even across a sender killed and restarted
(its successor sends the uncommitted head again, under the same id, before
anything after it). A receiver has at most ``per_receiver`` messages in
flight and the sender ``total``: a slow receiver fills its own queue only.
The outbox stays the record; these queues are read again from it every
poll (``load``) and the entries in hand (busy) kept across the read.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from projections.outbox import Message


class Entry:
    """One message in a queue: its attempts so far, when the next is due,
    and whether it is in hand (being sent, or its outcome not yet committed)."""

    __slots__ = ("message", "attempts", "next_at", "busy")

    def __init__(self, message: Message, attempts: int, next_at: datetime | None) -> None:
        self.message, self.attempts, self.next_at = message, attempts, next_at
        self.busy = False


class Queues:
    def __init__(self) -> None:
        self._queues: dict[str, dict[Any, deque[Entry]]] = {}  # receiver -> shipment -> queue
        self._quiet_until: dict[str, datetime] = {}  # a receiver with nothing due before
        self.busy: dict[str, Entry] = {}  # message id -> entry in hand

    def __len__(self) -> int:
        return sum(len(q) for shipments in self._queues.values() for q in shipments.values())

    def load(self, rows: Iterable[tuple[Message, int, datetime | None]]) -> None:
        """The queues as read now (in log order); an entry in hand is kept as
        it is, at its place (the read may predate its outcome)."""
        queues: dict[str, dict[Any, deque[Entry]]] = {}
        for message, attempts, next_at in rows:
            entry = self.busy.get(message.message_id) or Entry(message, attempts, next_at)
            queues.setdefault(message.channel, {}).setdefault(
                message.shipment_id, deque()).append(entry)
        self._queues, self._quiet_until = queues, {}

    def extend(self, rows: Iterable[tuple[Message, int, datetime | None]]) -> None:
        """Messages decided since the last read, after those in the queues."""
        for message, attempts, next_at in rows:
            if message.message_id not in self.busy:
                self._queues.setdefault(message.channel, {}).setdefault(
                    message.shipment_id, deque()).append(Entry(message, attempts, next_at))

    def ready(self, now: datetime, in_flight: Counter[str], per_receiver: int, total: int,
              skip: Collection[str] = ()) -> list[Entry]:
        """The heads to send now, marked busy (``in_flight`` counted up):
        per receiver, shipments in log order, those not in hand nor waiting
        out a backoff, as many as the receiver and the sender have room for."""
        chosen: list[Entry] = []
        room = total - sum(in_flight.values())
        for channel, shipments in self._queues.items():
            if room <= 0:
                break
            if channel in skip or in_flight[channel] >= per_receiver or \
                    self._quiet_until.get(channel, now) > now:
                continue
            soonest: datetime | None = None
            found = False
            for queue in shipments.values():
                head = queue[0]
                if head.busy:
                    continue
                if head.next_at is not None and head.next_at > now:
                    soonest = head.next_at if soonest is None else min(soonest, head.next_at)
                    continue
                head.busy, found = True, True
                self.busy[head.message.message_id] = head
                chosen.append(head)
                in_flight[channel] += 1
                room -= 1
                if in_flight[channel] >= per_receiver or room <= 0:
                    break
            else:
                if not found and soonest is not None:
                    self._quiet_until[channel] = soonest  # every head waits out a backoff
        return chosen

    def done(self, entry: Entry) -> None:
        """Its outcome committed, nothing more to send: the next one of its
        shipment may go."""
        self._release(entry)
        shipments = self._queues.get(entry.message.channel, {})
        queue = shipments.get(entry.message.shipment_id)
        if queue is not None and entry in queue:
            queue.remove(entry)
            if not queue:
                del shipments[entry.message.shipment_id]

    def retry(self, entry: Entry, attempts: int, next_at: datetime) -> None:
        """Its failed attempt committed: it stays at its shipment's head
        until ``next_at``."""
        entry.attempts, entry.next_at = attempts, next_at
        self._release(entry)

    def release(self, entry: Entry) -> None:
        """Back in its queue as it was (nothing was tried)."""
        self._release(entry)

    def _release(self, entry: Entry) -> None:
        entry.busy = False
        self.busy.pop(entry.message.message_id, None)
        self._quiet_until.pop(entry.message.channel, None)

    def drop(self, channel: str) -> None:
        """Nothing more for this receiver until the next read (disabled)."""
        self._queues.pop(channel, None)

    def clear(self) -> None:
        """Forget every queue (another sender holds the lease); the entries
        in hand stay, to be finished."""
        self._queues, self._quiet_until = {}, {}
