"""The sender: delivers the outbox's messages, at least once, each
shipment's in order, and records every attempt.

One asyncio loop in a thread of its own. Every ``poll_interval`` it reads
the outbox's new messages into per-receiver, per-shipment queues in memory
(one query; adapters.notify.queues) and, while it holds the senders' lease
(asked once a poll), sends each shipment's first message only: the next
goes once that one's outcome is committed, so they arrive in order. Sends
run concurrently, a pooled HTTP client per receiver (a subscription, or the
customers' mail server), at most ``per_receiver`` in flight each and
``total`` in all: a slow or failing receiver holds up its own queue only.
A failed attempt is tried again after an exponential backoff with full
jitter, for ``give_up_after`` (25 h by default); ``410 Gone`` disables the
subscription, on the record. The outcomes come in while a commit runs are
committed together in the next: a sender killed before then sends those
messages again, under the same ``webhook-id``, and nothing after them first.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapters.http.metrics import Metrics
from adapters.notify import signing
from adapters.notify.addresses import Pinned, RefusedAddress, Resolve, check_destination
from adapters.notify.mail import Mailer
from adapters.notify.queues import Entry, Queues
from adapters.notify.store import CANCELLED, DELIVERED, FAILED, RETRYING, DeliveryStore, Outcome
from projections.outbox import EMAIL, Message
from tracking.codes import SourceKind
from tracking.application import ShipmentService
from tracking.scan import Source
from tracking.webhook import WebhookNotFound

log = logging.getLogger(__name__)
SENDING = "notifications-sender"  # the lease one sender at a time holds
SYSTEM = Source(SourceKind.SYSTEM, "notify")


class Sender:
    def __init__(
        self,
        service: ShipmentService,
        store: DeliveryStore,
        *,
        metrics: Metrics | None = None,
        mailer: Mailer | None = None,
        allow_private: bool = False,
        timeout: float = 10.0,
        per_receiver: int = 8,
        total: int = 64,
        backoff: float = 5.0,
        max_backoff: float = 3600.0,
        give_up_after: timedelta = timedelta(hours=25),
        poll_interval: float = 0.1,
        loaded: int = 1000,
        rescan: float = 5.0,
        fresh_for: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease: Any = None,
    ) -> None:
        self.service, self.store, self.mailer = service, store, mailer
        self.metrics = metrics or Metrics()
        self.allow_private, self.timeout = allow_private, timeout
        self.resolve: Resolve = socket.getaddrinfo  # names are looked up by this, once a send
        self.per_receiver, self.total = per_receiver, total
        self.backoff, self.max_backoff, self.give_up_after = backoff, max_backoff, give_up_after
        self.poll_interval, self.clock = poll_interval, clock
        self.rescan, self._floor, self._next_rescan = rescan, 0, 0.0
        self.fresh_for = fresh_for
        self.loaded = loaded  # messages read into memory per receiver, at most
        self._subscriptions: dict[Any, tuple[float, tuple[str, list[str]] | None]] = {}
        self._opened: dict[tuple[Any, ...], list[str]] = {}  # sealed secrets -> opened
        self.queues = Queues()
        self._in_flight: Counter[str] = Counter()  # per receiver
        self._outcomes: list[tuple[Entry, Outcome]] = []  # come in, not yet committed
        self._tasks: set[asyncio.Task[None]] = set()
        # A pooled client per receiver (its connections kept alive, at most
        # per_receiver): one pool for all scanned every connection per request.
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._next_load = 0.0
        self._read_to: int | None = None  # the queues hold every message up to it (None: not)
        self._got, self._full_read = 0, 0.0  # how many the last full read brought, when
        self._cut: set[str] = set()  # receivers whose queues hold their first messages only
        self._sending, self._lease_checked = False, 0.0
        self._stop = threading.Event()
        self._wake: asyncio.Event | None = None  # set when a send ends (made in run's loop)
        # An object with held() -> names (projections.lease): with one, this
        # sender sends only while it holds SENDING, so a second sender (another
        # `tracking notify`, or `tracking all`) waits instead of sending twice.
        self.lease = lease
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._register()

    def _register(self) -> None:
        m = self.metrics
        m.counter("tracking_notify_sent_total", "Messages delivered (2xx, or accepted by SMTP)")
        m.counter("tracking_notify_failed_total", "Attempts that failed, by reason")
        m.counter("tracking_notify_disabled_total", "Subscriptions disabled by a 410 Gone")
        m.gauge("tracking_notify_messages", "Outbox messages by delivery state",
                lambda: {k: float(v) for k, v in self.store.counts().items() if k != "oldest"},
                label="state")
        m.gauge("tracking_notify_oldest_unsent_seconds",
                "Age of the oldest message not yet delivered (0 when none waits)",
                self.oldest_unsent_seconds)

    def oldest_unsent_seconds(self) -> float:
        oldest = self.store.counts()["oldest"]
        return 0.0 if oldest is None else max(0.0, (self.clock() - oldest).total_seconds())

    # -- one poll ------------------------------------------------------------------

    async def _holding(self) -> bool:
        """Whether this sender may send: it holds the senders' lease, asked
        of the database once per poll interval (not once per send)."""
        if self.lease is None:
            return True
        if time.monotonic() >= self._lease_checked:
            held = SENDING in await asyncio.to_thread(self.lease.held)
            self._lease_checked = time.monotonic() + self.poll_interval
            if held and not self._sending:
                self._next_load = self._next_rescan = 0.0  # read everything afresh
                self._read_to = None
            self._sending = held
        return self._sending

    async def _load(self) -> None:
        """Bring the queues up to the outbox, in one query. While they hold
        every message not yet done, only what was decided since is read
        (a receiver whose queue the last read cut at ``loaded`` gets none of
        it: its queue is read afresh). Everything from the first log
        position not yet found done is read afresh when the queues are
        incomplete and have run down to half of what the read before
        brought, or a second has gone by; and from the start every
        ``rescan`` seconds (what a replay in another process made due)."""
        now = time.monotonic()
        rescan = now >= self._next_rescan
        if rescan:
            self._floor, self._next_rescan = 0, now + self.rescan
        last = await asyncio.to_thread(self.store.last_position)  # read first: none is missed
        limits = {"per_receiver": self.loaded, "limit": self.loaded * 5}
        incomplete = self._read_to is None or bool(self._cut)
        if rescan or (incomplete and (len(self.queues) <= self._got // 2
                                      or now >= self._full_read + 1.0)):
            rows = await asyncio.to_thread(self.store.waiting, self._floor, **limits)
            self._floor = rows[0][0].position if rows else max(self._floor, last + 1)
            self.queues.load(rows)
            self._got, self._full_read, self._cut = len(rows), now, set()
        elif self._read_to is not None and last > self._read_to:
            rows = await asyncio.to_thread(self.store.waiting, self._read_to + 1,
                                           floor=self._floor, **limits)
            self.queues.extend(r for r in rows if r[0].channel not in self._cut)
        else:
            return
        # Every message up to ``last`` is in the queues, but for the receivers cut.
        counts = Counter(r[0].channel for r in rows)
        self._cut |= {channel for channel, n in counts.items() if n >= self.loaded}
        self._read_to = None if len(rows) >= limits["limit"] else last

    def _dispatch(self) -> None:
        """Start sending every head the receivers have room for."""
        skip = () if self.mailer is not None else (EMAIL,)  # no TRACKING_SMTP_URL: e-mail waits
        for entry in self.queues.ready(self.clock(), self._in_flight, self.per_receiver,
                                       self.total, skip):
            task = asyncio.create_task(self._send(entry))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, entry: Entry) -> None:
        m = entry.message
        outcome: Outcome | None = None
        try:
            if m.channel == EMAIL:
                outcome = await self._email(entry)
            else:
                outcome = await self._webhook(entry)
        except Exception:
            log.exception("sending %s failed unexpectedly", m.message_id)
        finally:
            self._in_flight[m.channel] -= 1
            if outcome is None:
                self.queues.release(entry)
            else:
                self._outcomes.append((entry, outcome))
            if self._wake is not None:
                self._wake.set()  # its outcome to commit, then its shipment's next may go
            self._dispatch()  # the room it leaves, to another shipment's message at once

    async def _flush(self) -> None:
        """Commit the outcomes come in, in one transaction, then let each
        shipment's next message go."""
        if not self._outcomes:
            return
        taken, self._outcomes = self._outcomes, []
        try:
            await asyncio.to_thread(self.store.record_many, [o for _, o in taken])
        except BaseException:
            self._outcomes = taken + self._outcomes
            raise
        for entry, o in taken:
            m = entry.message
            if o.state == RETRYING:
                self.queues.retry(entry, o.attempt or 0, o.next_at)
            else:
                self.queues.done(entry)
            if o.state == DELIVERED:
                self.metrics.inc("tracking_notify_sent_total", channel=_channel(m))
            elif o.attempt is not None:
                self.metrics.inc("tracking_notify_failed_total",
                                 reason=str(o.status) if o.status is not None else "error")
            if o.status == 410 and m.webhook_id is not None:
                self.queues.drop(m.channel)
                self._subscriptions.pop(m.webhook_id, None)
                await asyncio.to_thread(
                    self.service.webhooks.change, m.webhook_id,
                    lambda w: w.disable("the receiver answered 410 Gone", SYSTEM))
                self.metrics.inc("tracking_notify_disabled_total")

    async def _webhook(self, entry: Entry) -> Outcome:
        m = entry.message
        assert m.webhook_id is not None
        found = await self._subscription(m.webhook_id)
        if found is None:
            return Outcome(m.message_id, None, self.clock(), None, None, 0, CANCELLED,
                           self.clock())
        url, secrets = found
        started, at = time.monotonic(), self.clock()
        status: int | None = None
        error: str | None = None
        try:
            addresses = await self._check(url)
            target = Pinned(url, addresses[0])
            stamp = int(time.time())
            headers = signing.headers(m.message_id, stamp, m.body, secrets)
            response = await self._client(m.channel).post(
                target.url, content=m.body, headers={**headers, "host": target.host},
                extensions=target.extensions, timeout=self.timeout, follow_redirects=False)
            status = response.status_code
        except RefusedAddress as e:
            error = e.reason
        except httpx.TimeoutException:
            error = f"no answer within {self.timeout:g} s"
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        ms = int((time.monotonic() - started) * 1000)
        if status is not None and 200 <= status < 300:
            return Outcome(m.message_id, entry.attempts + 1, at, status, None, ms, DELIVERED, at)
        if status == 410:
            return Outcome(m.message_id, entry.attempts + 1, at, status, "410 Gone: disabled",
                           ms, FAILED, at)
        return self._retry(entry, at, status, error, ms)

    def _client(self, channel: str) -> httpx.AsyncClient:
        client = self._clients.get(channel)
        if client is None:
            limits = httpx.Limits(max_connections=self.per_receiver,
                                  max_keepalive_connections=self.per_receiver)
            client = self._clients[channel] = httpx.AsyncClient(limits=limits, trust_env=False)
        return client

    async def _check(self, url: str) -> list[str]:
        """The addresses ``url`` may be sent to, looked up now (in a worker
        thread unless its host is an address already: nothing to wait for)."""
        host = urlsplit(url).hostname or ""
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return await asyncio.to_thread(check_destination, url,
                                           allow_private=self.allow_private,
                                           resolve=self.resolve)
        return check_destination(url, allow_private=self.allow_private, resolve=self.resolve)

    async def _subscription(self, webhook_id: Any) -> tuple[str, list[str]] | None:
        """The subscription's URL and secrets as recorded (None once
        deleted or disabled), read again when older than ``fresh_for``: a
        rotation or deletion made in another process is seen within that."""
        found = self._subscriptions.get(webhook_id)
        if found is not None and found[0] > time.monotonic():
            return found[1]
        sending = await asyncio.to_thread(self._read_subscription, webhook_id)
        self._subscriptions[webhook_id] = (time.monotonic() + self.fresh_for, sending)
        return sending

    def _read_subscription(self, webhook_id: Any) -> tuple[str, list[str]] | None:
        try:
            webhook = self.service.webhooks.get(webhook_id)
        except WebhookNotFound:
            return None
        if not webhook.active:
            return None
        sealed = tuple(webhook.secrets)  # opened again only when they change (a rotation)
        if (opened := self._opened.get(sealed)) is None:
            if len(self._opened) > 10_000:
                self._opened.clear()
            opened = self._opened[sealed] = self.service.webhooks.secrets(webhook)
        return webhook.url, opened

    async def _email(self, entry: Entry) -> Outcome:
        m = entry.message
        assert self.mailer is not None
        started, at = time.monotonic(), self.clock()
        try:
            sent = await asyncio.to_thread(self.mailer.send, self.service, m)
        except OSError as e:  # smtplib's errors are OSErrors, as are refused connections
            ms = int((time.monotonic() - started) * 1000)
            return self._retry(entry, at, None, f"{type(e).__name__}: {e}", ms)
        if not sent:  # the address is no longer there (erased)
            return Outcome(m.message_id, None, at, None, None, 0, CANCELLED, at)
        ms = int((time.monotonic() - started) * 1000)
        return Outcome(m.message_id, entry.attempts + 1, at, 250, None, ms, DELIVERED, at)

    def _retry(self, entry: Entry, at: datetime, status: int | None, error: str | None,
               ms: int) -> Outcome:
        """Again after an exponential backoff with full jitter, or given up
        once the message is older than ``give_up_after``."""
        attempt = entry.attempts + 1
        delay = random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))  # nosec B311: jitter or made-up data, not a secret
        given_up = at - entry.message.created_at > self.give_up_after
        return Outcome(entry.message.message_id, attempt, at, status, error, ms,
                       FAILED if given_up else RETRYING, at + timedelta(seconds=delay))

    # -- running in the background -------------------------------------------------

    async def run(self) -> None:
        try:
            await self._loop()
        finally:
            for client in self._clients.values():
                with contextlib.suppress(Exception):
                    await client.aclose()
            self._clients = {}

    async def _loop(self) -> None:
        self._wake = wake = asyncio.Event()
        while not self._stop.is_set():
            try:
                if not await self._holding():
                    self.queues.clear()  # another sender sends; read afresh once back
                    await asyncio.sleep(self.poll_interval)
                    continue
                await self._flush()
                if time.monotonic() >= self._next_load:
                    self._next_load = time.monotonic() + self.poll_interval
                    await self._load()
                self._dispatch()
            except Exception as e:  # the database went away: again, slower
                log.warning("the outbox does not answer (%s); again in 1 s", e)
                await asyncio.sleep(1.0)
            # Again when a send ends (its outcome to commit) or at the next
            # read of the outbox (new messages).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    wake.wait(), max(0.0, self._next_load - time.monotonic()))
            wake.clear()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.timeout + 1)
        with contextlib.suppress(Exception):
            await self._flush()

    def _run(self) -> None:
        try:
            asyncio.run(self.run())
        except BaseException as e:
            self.error = e
            log.exception("the sender stopped")
            raise

    def start(self) -> Sender:
        self._thread = threading.Thread(target=self._run, name="notify-sender", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.lease is not None:
            self.lease.close()  # the next sender takes over at once

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _channel(m: Message) -> str:
    return EMAIL if m.channel == EMAIL else "webhook"

