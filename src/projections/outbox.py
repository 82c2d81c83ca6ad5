"""The outbox read model: what is to be sent, decided from the events.

For each change of a booked shipment (its status, an exception raised, its
ETA, or an end of its window where the view shows one, moved by more
than a threshold, its delivery, a purchase order line it carries newly at
risk of arriving late) it writes one message per
active webhook subscription of the shipment's account that asked for that
kind, and one customer e-mail per address subscribed on the tracking page
when the status changed. Each message has a stable id (the ``webhook-id``,
made from the subscription, the shipment's version and the kind, so a
rebuilt outbox decides the same ids) and its log position, which orders a
shipment's messages. The sender (adapters/notify) delivers them and keeps
what it did in tables of its own, which a rebuild of this view leaves alone.

The webhook subscriptions themselves are kept here too (listed by the API):
which subscriptions a change goes to is decided in the same pass, in log
order, so a subscription made after a change is not sent it.
"""

from __future__ import annotations

import uuid
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
from eventsourcing.dispatch import singledispatchmethod

from projections.readmodel import BatchProjection, MemoryView, ReadModel, View
from projections.sql import SqlView, Writer
from projections.views import TrackingView, tracking_view
from tracking.codes import Status
from tracking.eta.window import ShownEta, unmodelled
from tracking.exceptions import open_exceptions, order_risks
from tracking.mapper import enc_hook
from tracking.shipment import Shipment, ShipmentState
from tracking.validation import RecordedDecoder
from tracking.webhook import Webhook, WebhookEvent, message_id

DEFAULT_ETA_THRESHOLD = timedelta(hours=2)
EMAIL = "email"  # the channel of customer e-mails (webhooks' is the subscription's id)
_EMAIL_NAMESPACE = uuid.UUID("5b0e8f0c-3d1e-4b8e-9f37-0c2b1e6d7a44")
# Whether the tracking view shows an ETA window (earliest, latest): a window
# that moves past the threshold is a revision too.
WINDOWED = "eta_window" in TrackingView.__struct_fields__


class Tracked(msgspec.Struct, kw_only=True):
    """What the outbox keeps per shipment to go on deciding."""

    state: ShipmentState
    status: Status | None = None
    eta: datetime | None = None
    window: tuple[datetime, datetime] | None = None  # the ETA window's (earliest, latest)
    open: list[str] = []
    at_risk: list[str] = []  # the purchase order lines it may arrive late for (po/sku)


class Subscriber(msgspec.Struct, kw_only=True, frozen=True):
    """A webhook subscription as the outbox and the API's lists see it."""

    webhook_id: UUID
    account: str
    url: str
    events: list[str]
    active: bool
    deleted: bool
    created_at: datetime


class Message(msgspec.Struct, kw_only=True, frozen=True):
    """One message to send: to a webhook (``webhook_id``) or, for ``channel``
    email, to the ``target``-th address subscribed to the shipment."""

    message_id: str
    channel: str
    webhook_id: UUID | None
    shipment_id: UUID
    tracking_number: str
    position: int
    ordinal: int
    kind: str
    created_at: datetime
    body: bytes
    target: str = ""


class OutboxChanges(NamedTuple):
    tracked: dict[UUID, bytes]
    subscribers: dict[UUID, Subscriber]
    messages: list[Message]


_encoder = msgspec.json.Encoder(enc_hook=enc_hook)
_tracked: RecordedDecoder[Tracked] = RecordedDecoder(Tracked)


class OutboxProjection(BatchProjection["OutboxView"]):
    def begin(self, events: Sequence[Any], *, fresh: bool) -> None:
        ids = [] if fresh else list({e.originator_id for e in events
                                     if isinstance(e, Shipment.Event)})
        self._working = {sid: _tracked.decode(doc)
                         for sid, doc in self.view.tracked(ids).items()}
        self._shipments: dict[UUID, Shipment] = {}
        self._subscribers = {s.webhook_id: s for s in self.view.subscribers()}
        self._changed_subscribers: dict[UUID, Subscriber] = {}
        self._touched: set[UUID] = set()
        self._messages: list[Message] = []

    @singledispatchmethod
    def process_event(self, event: Any, position: int) -> None:
        """Another aggregate's event: not this read model's concern."""

    @process_event.register
    def _created(self, event: Webhook.Created, position: int) -> None:
        self._subscriber(Subscriber(webhook_id=event.originator_id, account=event.account,
                                    url=event.url, events=list(event.events), active=True,
                                    deleted=False, created_at=event.timestamp))

    @process_event.register
    def _disabled(self, event: Webhook.Disabled, position: int) -> None:
        found = self._subscribers.get(event.originator_id)
        if found is not None:
            self._subscriber(msgspec.structs.replace(found, active=False))

    @process_event.register
    def _deleted(self, event: Webhook.Deleted, position: int) -> None:
        found = self._subscribers.get(event.originator_id)
        if found is not None:
            self._subscriber(msgspec.structs.replace(found, active=False, deleted=True))

    def _subscriber(self, s: Subscriber) -> None:
        self._subscribers[s.webhook_id] = self._changed_subscribers[s.webhook_id] = s

    @process_event.register
    def _shipment_event(self, event: Shipment.Event, position: int) -> None:
        sid = event.originator_id
        tracked = self._working.get(sid)
        shipment = self._shipments.get(sid)
        if shipment is None and tracked is not None:
            shipment = Shipment.from_state(tracked.state)
        if shipment is not None and event.originator_version <= shipment.version:
            return  # already applied
        shipment = event.mutate(shipment)
        assert isinstance(shipment, Shipment)
        self._shipments[sid] = shipment
        if tracked is None:
            tracked = self._working[sid] = Tracked(state=shipment.state())
        self._touched.add(sid)
        if shipment.is_booked:
            self._decide(shipment, tracked, event, position)

    def _decide(self, shipment: Shipment, was: Tracked, event: Any, position: int) -> None:
        """The messages this event's change calls for, then what it is now."""
        delivery = shipment.delivery()
        status, eta = delivery.status, delivery.eta
        # The window the view shows (its ETA as _public_fields derives it without a
        # model), not the whole view: that is built only for a message, below.
        window = _window(unmodelled(shipment.route, delivery, shipment.estimates,
                                    shipment.require_booked().deliver_by)) if WINDOWED else None
        view: TrackingView | None = None
        found = open_exceptions(shipment, delivery)
        kinds: list[tuple[str, dict[str, Any]]] = []
        if was.status is not None:
            if status != was.status:
                kinds.append((WebhookEvent.STATUS_CHANGED, {}))
                if status is Status.DELIVERED:
                    kinds.append((WebhookEvent.DELIVERED, {}))
            for kind, details in found.items():
                if kind.value not in was.open:
                    kinds.append((WebhookEvent.EXCEPTION_RAISED,
                                  {"exception": {"kind": kind.value, "details": details}}))
            if (revised(was, eta, window, self.view.eta_threshold)
                    and status is not Status.DELIVERED):
                kinds.append((WebhookEvent.ETA_REVISED, {"previous_eta": was.eta}))
        at_risk = order_risks(shipment, delivery)
        newly = [r for r in at_risk if r.key not in was.at_risk]
        if newly:
            kinds.append((WebhookEvent.PO_AT_RISK, {"purchase_orders": [
                {"po_number": r.po_number, "sku": r.sku, "quantity": r.quantity,
                 "need_by": r.risk.need_by, "latest": r.risk.latest,
                 "reason": r.risk.describe()} for r in newly]}))
        if kinds:
            view = view or tracking_view(shipment, delivery)
            self._messages += self._compose(shipment, view, was, event, position, kinds)
        was.status, was.eta, was.window = status, eta, window
        was.open = [k.value for k in found]
        was.at_risk = [r.key for r in at_risk]

    def _compose(self, shipment: Shipment, shown: TrackingView, was: Tracked, event: Any,
                 position: int, kinds: list[tuple[str, dict[str, Any]]]) -> list[Message]:
        account = shipment.require_booked().account
        view = msgspec.to_builtins(shown, enc_hook=enc_hook)
        view |= {"previous_status": was.status, "account": account}
        tn, at = str(shipment.tracking_number), event.timestamp
        out: list[Message] = []
        subscribers = [s for s in self._subscribers.values()
                       if s.active and s.account == account]
        for ordinal, (kind, extra) in enumerate(kinds):
            body = _encoder.encode({"type": kind, "timestamp": at, "data": view | extra})
            for s in subscribers:
                if kind in s.events:
                    out.append(Message(
                        message_id=message_id(s.webhook_id, shipment.id, shipment.version, kind),
                        channel=str(s.webhook_id), webhook_id=s.webhook_id,
                        shipment_id=shipment.id, tracking_number=tn, position=position,
                        ordinal=ordinal, kind=kind, created_at=at, body=body))
            if kind == WebhookEvent.STATUS_CHANGED:
                for i, sub in enumerate(shipment.subscriptions):
                    name = f"{shipment.id}:{shipment.version}:{i}"
                    out.append(Message(
                        message_id="msg_" + uuid.uuid5(_EMAIL_NAMESPACE, name).hex,
                        channel=EMAIL, webhook_id=None, shipment_id=shipment.id,
                        tracking_number=tn, position=position, ordinal=ordinal, kind=kind,
                        created_at=at, body=body, target=f"{i}:{sub.language}"))
        return out

    def replay_streams(self, streams: Sequence[Sequence[Any]], *, at: int) -> None:
        """Not stream by stream: the outbox needs the log's order (which
        subscriptions existed at each change) and each event's position (a
        shipment's order). A rebuild leaves it at 0 and the runner replays
        the log into it, in batches, as it catches up."""

    def advance(self, *, after: int, position: int) -> None:
        """As above: the position moves as the log is replayed, never by a jump."""

    def changes(self) -> OutboxChanges:
        for sid, shipment in self._shipments.items():
            self._working[sid].state = shipment.state()
        tracked = {sid: _encoder.encode(self._working[sid]) for sid in self._touched}
        return OutboxChanges(tracked, self._changed_subscribers, self._messages)


def revised(was: Tracked, eta: datetime | None, window: tuple[datetime, datetime] | None,
            threshold: timedelta) -> bool:
    """Whether the ETA, or either end of its window, moved past the threshold."""
    if _moved(was.eta, eta, threshold):
        return True
    if was.window is None or window is None:
        return False
    return any(_moved(b, a, threshold) for b, a in zip(was.window, window, strict=True))


def _moved(before: datetime | None, after: datetime | None, threshold: timedelta) -> bool:
    if before is None or after is None:
        return False  # an ETA appearing or going is a status matter, not a revision
    return abs(after - before) > threshold


def _window(shown: ShownEta) -> tuple[datetime, datetime] | None:
    """The (earliest, latest) of the ETA window the view shows, when it shows one."""
    return None if shown.window is None else (shown.window.earliest, shown.window.latest)


class OutboxView(View[OutboxChanges]):
    eta_threshold: timedelta = DEFAULT_ETA_THRESHOLD  # set by the composition root

    @abstractmethod
    def tracked(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]: ...

    @abstractmethod
    def subscribers(self, account: str | None = None) -> list[Subscriber]:
        """The subscriptions not deleted (of one account, or all)."""

    @abstractmethod
    def messages(self, webhook_id: UUID, *, since: datetime | None = None) -> list[Message]:
        """A subscription's messages, in log order."""


class MemoryOutboxView(MemoryView[OutboxChanges], OutboxView):
    def _clear(self) -> None:
        self._tracked: dict[UUID, bytes] = {}
        self._subscribers: dict[UUID, Subscriber] = {}
        self._messages: dict[str, Message] = {}

    def _write(self, changes: OutboxChanges) -> None:
        self._tracked |= changes.tracked
        self._subscribers |= changes.subscribers
        for m in changes.messages:
            self._messages.setdefault(m.message_id, m)

    def tracked(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        return {i: self._tracked[i] for i in shipment_ids if i in self._tracked}

    def subscribers(self, account: str | None = None) -> list[Subscriber]:
        return [s for s in self._subscribers.values()
                if not s.deleted and (account is None or s.account == account)]

    def messages(self, webhook_id: UUID, *, since: datetime | None = None) -> list[Message]:
        found = [m for m in self._messages.values() if m.webhook_id == webhook_id
                 and (since is None or m.created_at >= since)]
        return sorted(found, key=lambda m: (m.position, m.ordinal))


_MESSAGE_COLUMNS = ("message_id", "channel", "webhook_id", "shipment_id", "tracking_number",
                    "position", "ordinal", "kind", "created_at", "body", "target")


class SqlOutboxView(SqlView[OutboxChanges], OutboxView):
    tables = {
        "outbox_shipments": "shipment_id {uuid} PRIMARY KEY, tracked {bytes} NOT NULL",
        "webhook_subscriptions": (
            "webhook_id {uuid} PRIMARY KEY, account {text} NOT NULL, url {text} NOT NULL, "
            "events {text} NOT NULL, active {bool} NOT NULL, deleted {bool} NOT NULL, "
            "created_at {time} NOT NULL"
        ),
        "outbox_messages": (
            "message_id {text} PRIMARY KEY, channel {text} NOT NULL, webhook_id {uuid}, "
            "shipment_id {uuid} NOT NULL, tracking_number {text} NOT NULL, "
            "position {int} NOT NULL, ordinal {int} NOT NULL, kind {text} NOT NULL, "
            "created_at {time} NOT NULL, body {bytes} NOT NULL, target {text} NOT NULL"
        ),
    }
    indexes = (
        "CREATE INDEX IF NOT EXISTS outbox_messages_order ON outbox_messages (position, ordinal)",
        "CREATE INDEX IF NOT EXISTS outbox_messages_webhook ON outbox_messages "
        "(webhook_id, created_at)",
        # each receiver's queue per shipment (the sender's "first not done")
        "CREATE INDEX IF NOT EXISTS outbox_messages_queue ON outbox_messages "
        "(channel, shipment_id, position, ordinal)",
    )

    def _write(self, w: Writer, changes: OutboxChanges) -> None:
        key, time = self.db.key, self.db.time
        w.executemany(
            "INSERT INTO outbox_shipments VALUES (?, ?) ON CONFLICT (shipment_id) "
            "DO UPDATE SET tracked = excluded.tracked",
            [(key(sid), doc) for sid, doc in changes.tracked.items()])
        w.executemany(
            "INSERT INTO webhook_subscriptions VALUES (?,?,?,?,?,?,?) ON CONFLICT (webhook_id) "
            "DO UPDATE SET active = excluded.active, deleted = excluded.deleted",
            [(key(s.webhook_id), s.account, s.url, ",".join(s.events), s.active, s.deleted,
              time(s.created_at)) for s in changes.subscribers.values()])
        w.executemany(
            f"INSERT INTO outbox_messages ({', '.join(_MESSAGE_COLUMNS)}) "  # nosec B608: fixed table/column names; every value is a parameter
            f"VALUES ({','.join('?' * len(_MESSAGE_COLUMNS))}) ON CONFLICT DO NOTHING",
            [(m.message_id, m.channel, key(m.webhook_id) if m.webhook_id else None,
              key(m.shipment_id), m.tracking_number, m.position, m.ordinal, m.kind,
              time(m.created_at), m.body, m.target) for m in changes.messages])

    def tracked(self, shipment_ids: Sequence[UUID]) -> dict[UUID, bytes]:
        if not shipment_ids:
            return {}
        rows = self.db.select_keys(
            "SELECT shipment_id, tracked FROM outbox_shipments WHERE shipment_id {keys}",
            shipment_ids)
        return {self.db.read_key(sid): bytes(doc) for sid, doc in rows}

    def subscribers(self, account: str | None = None) -> list[Subscriber]:
        where, params = ("AND account = ?", (account,)) if account is not None else ("", ())
        rows = self.db.query(
            "SELECT webhook_id, account, url, events, active, deleted, created_at "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            f"FROM webhook_subscriptions WHERE NOT deleted {where} ORDER BY created_at", params)
        return [Subscriber(webhook_id=self.db.read_key(i), account=a, url=u,
                           events=e.split(","), active=bool(on), deleted=bool(gone),
                           created_at=self.db.read_time(at))
                for i, a, u, e, on, gone, at in rows]

    def messages(self, webhook_id: UUID, *, since: datetime | None = None) -> list[Message]:
        clause, params = ("AND created_at >= ?", [self.db.time(since)]) if since else ("", [])
        rows = self.db.query(
            f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM outbox_messages "  # noqa: S608  # nosec B608: fixed table/column names; every value is a parameter
            f"WHERE webhook_id = ? {clause} ORDER BY position, ordinal",
            [self.db.key(webhook_id), *params])
        return [self.message(row) for row in rows]

    def message(self, row: Sequence[Any]) -> Message:
        """A row of outbox_messages (its columns in their order) as a Message."""
        mid, channel, wid, sid, tn, pos, ordinal, kind, at, body, target = row
        return Message(message_id=mid, channel=channel,
                       webhook_id=self.db.read_key(wid) if wid is not None else None,
                       shipment_id=self.db.read_key(sid), tracking_number=tn, position=pos,
                       ordinal=ordinal, kind=kind, created_at=self.db.read_time(at),
                       body=bytes(body), target=target)


MESSAGE_COLUMNS = _MESSAGE_COLUMNS
READ_MODEL = ReadModel("outbox", OutboxProjection, memory=MemoryOutboxView, sql=SqlOutboxView)
