"""The sender: delivers the outbox's messages, at least once, each
shipment's in order, and records every attempt.

One asyncio loop in a thread of its own. Each round it reads the messages
not yet delivered (in log order) and takes, for every (receiver, shipment),
the first one only: the next is not sent before it is delivered, so a
shipment's messages arrive in order. A receiver (a webhook subscription, or
the customers' mail server) has at most ``per_receiver`` messages in
flight, and the sender ``total`` in all: a slow or failing receiver holds
up its own queue, never another's. A failed attempt is tried again after
an exponential backoff with full jitter, for ``give_up_after`` (25 h by
default); ``410 Gone`` disables the subscription, on the record. An
attempt's outcome is written after it: a sender killed in between sends
that message again, under the same ``webhook-id``, for the receiver to
drop as a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from adapters.http.metrics import Metrics
from adapters.notify import signing
from adapters.notify.addresses import Pinned, RefusedAddress, Resolve, check_destination
from adapters.notify.mail import Mailer
from adapters.notify.store import DELIVERED, FAILED, RETRYING, DeliveryStore, Due
from projections.outbox import EMAIL, Message
from tracking.codes import SourceKind
from tracking.application import ShipmentService
from tracking.scan import Source
from tracking.webhook import Webhook, WebhookNotFound

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
        poll_interval: float = 0.2,
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
        self._subscriptions: dict[Any, tuple[float, Webhook | None]] = {}
        self._in_flight: Counter[str] = Counter()  # per receiver
        self._heads: set[tuple[str, Any]] = set()  # (receiver, shipment) being sent
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

    # -- one round -----------------------------------------------------------------

    async def run_once(self, client: httpx.AsyncClient) -> list[asyncio.Task[None]]:
        """Start sending what is due now; the tasks started.

        Every message before ``_floor`` (a log position) was found done, so
        most rounds read from there on; a full read every ``rescan`` seconds
        finds the messages a replay (in another process) made due again."""
        if time.monotonic() >= self._next_rescan:
            self._floor, self._next_rescan = 0, time.monotonic() + self.rescan
        first = await asyncio.to_thread(self.store.first_waiting, self._floor)
        if first is not None:  # everything before the first message not done is done
            self._floor = first
        now = self.clock()
        due = await asyncio.to_thread(self.store.due, now, from_position=self._floor)
        seen: set[tuple[str, Any]] = set()
        chosen: list[Due] = []
        in_flight = Counter(self._in_flight)
        for item in due:
            key = (item.channel, item.shipment_id)
            if key in seen or key in self._heads:
                continue  # a shipment's next message waits for the one before
            seen.add(key)
            if in_flight[item.channel] >= self.per_receiver or \
                    len(self._heads) + len(chosen) >= self.total:
                continue
            in_flight[item.channel] += 1
            chosen.append(item)
        if not chosen:
            return []
        messages = await asyncio.to_thread(self.store.messages, [d.message_id for d in chosen])
        started: list[asyncio.Task[None]] = []
        for item in chosen:
            key = (item.channel, item.shipment_id)
            if item.message_id not in messages or key in self._heads:
                continue
            self._heads.add(key)
            self._in_flight[item.channel] += 1
            started.append(asyncio.create_task(
                self._send(client, item, messages[item.message_id], key)))
        return started

    async def _send(self, client: httpx.AsyncClient, item: Due, m: Message,
                    key: tuple[str, Any]) -> None:
        try:
            if m.channel == EMAIL:
                await self._email(item, m)
            else:
                await self._webhook(client, item, m)
        except Exception:
            log.exception("sending %s failed unexpectedly", m.message_id)
        finally:
            self._heads.discard(key)
            self._in_flight[m.channel] -= 1
            if self._wake is not None:
                self._wake.set()  # its receiver has room, its shipment's next may go

    async def _webhook(self, client: httpx.AsyncClient, item: Due, m: Message) -> None:
        assert m.webhook_id is not None
        webhook = await self._subscription(m.webhook_id)
        if webhook is None or not webhook.active:
            await asyncio.to_thread(self.store.cancel, m.message_id, self.clock())
            return
        started, at = time.monotonic(), self.clock()
        status: int | None = None
        error: str | None = None
        try:
            addresses = await asyncio.to_thread(check_destination, webhook.url,
                                                allow_private=self.allow_private,
                                                resolve=self.resolve)
            target = Pinned(webhook.url, addresses[0])
            stamp = int(time.time())
            headers = signing.headers(m.message_id, stamp, m.body, webhook.secrets)
            response = await client.post(
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
            await self._done(m, item.attempts + 1, at, status, None, ms, DELIVERED)
        elif status == 410:
            await self._done(m, item.attempts + 1, at, status, "410 Gone: disabled", ms, FAILED)
            await asyncio.to_thread(self.service.change_webhook, m.webhook_id,
                                    lambda w: w.disable("the receiver answered 410 Gone", SYSTEM))
            self.metrics.inc("tracking_notify_disabled_total")
        else:
            await self._retry(m, item.attempts + 1, at, status, error, ms)

    async def _subscription(self, webhook_id: Any) -> Webhook | None:
        """The subscription as recorded (None once deleted), read again when
        older than ``fresh_for``: a rotation or deletion made in another
        process is seen within that."""
        found = self._subscriptions.get(webhook_id)
        if found is not None and found[0] > time.monotonic():
            return found[1]
        try:
            webhook: Webhook | None = await asyncio.to_thread(self.service.webhook, webhook_id)
        except WebhookNotFound:
            webhook = None
        self._subscriptions[webhook_id] = (time.monotonic() + self.fresh_for, webhook)
        return webhook

    async def _email(self, item: Due, m: Message) -> None:
        if self.mailer is None:
            return  # no TRACKING_SMTP_URL: waits for a sender that has one
        started, at = time.monotonic(), self.clock()
        try:
            sent = await asyncio.to_thread(self.mailer.send, self.service, m)
        except OSError as e:  # smtplib's errors are OSErrors, as are refused connections
            ms = int((time.monotonic() - started) * 1000)
            await self._retry(m, item.attempts + 1, at, None, f"{type(e).__name__}: {e}", ms)
            return
        if not sent:  # the address is no longer there (erased)
            await asyncio.to_thread(self.store.cancel, m.message_id, at)
            return
        ms = int((time.monotonic() - started) * 1000)
        await self._done(m, item.attempts + 1, at, 250, None, ms, DELIVERED)

    async def _done(self, m: Message, attempt: int, at: datetime, status: int | None,
                    error: str | None, ms: int, state: str) -> None:
        await asyncio.to_thread(self.store.record, m.message_id, attempt, at=at, status=status,
                                error=error, duration_ms=ms, state=state, next_at=at)
        if state == DELIVERED:
            self.metrics.inc("tracking_notify_sent_total", channel=_channel(m))
        else:
            self.metrics.inc("tracking_notify_failed_total", reason=str(status or "error"))

    async def _retry(self, m: Message, attempt: int, at: datetime, status: int | None,
                     error: str | None, ms: int) -> None:
        """Again after an exponential backoff with full jitter, or given up
        once the message is older than ``give_up_after``."""
        delay = random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))  # nosec B311: jitter or made-up data, not a secret
        given_up = at - m.created_at > self.give_up_after
        state = FAILED if given_up else RETRYING
        await asyncio.to_thread(self.store.record, m.message_id, attempt, at=at, status=status,
                                error=error, duration_ms=ms, state=state,
                                next_at=at + timedelta(seconds=delay))
        self.metrics.inc("tracking_notify_failed_total",
                         reason=str(status) if status is not None else "error")

    # -- running in the background -------------------------------------------------

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=self.total, max_keepalive_connections=self.total)
        async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
            tasks: set[asyncio.Task[None]] = set()
            self._wake = wake = asyncio.Event()
            while not self._stop.is_set():
                if self.lease is not None and SENDING not in await asyncio.to_thread(
                        self.lease.held):
                    await asyncio.sleep(self.poll_interval)  # another sender sends
                    continue
                try:
                    for task in await self.run_once(client):
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                except Exception as e:  # the database went away: again, slower
                    log.warning("the outbox does not answer (%s); again in 1 s", e)
                    await asyncio.sleep(1.0)
                # The next round when a send ends (room for the next message)
                # or after poll_interval (new messages in the outbox).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_interval)
                wake.clear()
            if tasks:
                await asyncio.wait(tasks, timeout=self.timeout + 1)

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

