"""Live tracking views for open streams: one watcher per process.

The watcher waits for the shipments view to move on (PostgreSQL: the
NOTIFY that view sends as it commits; SQLite and memory: a cheap poll
of the view's position), asks the view in one query for the public views
of the watched shipments whose rows moved past where it was, and hands
each open stream its shipment's newest view with the row's log position.
Streams hold no database connection: only the watcher does, while any
stream is open, and it stops (closing its connection) when none is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from uuid import UUID

from projections.readmodel import Views
from projections.shipments import READ_MODEL as SHIPMENTS, ShipmentsView

log = logging.getLogger(__name__)


class Watch:
    """One open stream's mailbox: the newest view not yet sent (older ones
    are superseded, so a slow client never piles them up)."""

    __slots__ = ("shipment_id", "loop", "latest", "ready")

    def __init__(self, shipment_id: UUID, loop: asyncio.AbstractEventLoop) -> None:
        self.shipment_id = shipment_id
        self.loop = loop
        self.latest: tuple[int, bytes] | None = None
        self.ready = asyncio.Event()

    def offer(self, position: int, view: bytes) -> None:
        if self.latest is None or position > self.latest[0]:
            self.latest = (position, view)
            self.ready.set()

    async def next(self, timeout: float) -> tuple[int, bytes] | None:
        """The newest view offered since the last call, or None after ``timeout``."""
        if self.latest is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), timeout)
        got, self.latest = self.latest, None
        self.ready.clear()
        return got


class LiveViews:
    def __init__(
        self,
        view: ShipmentsView,
        *,
        listener: Callable[[], object] | None = None,
        poll_interval: float = 0.1,
        idle_stop: float = 30.0,
    ) -> None:
        """``listener`` makes an object with ``wait(timeout)`` and ``close()``
        (a PostgresListener on the views' channel); without one, the
        watcher polls the views' position every ``poll_interval``."""
        self.view = view
        self._listener_factory = listener
        self.poll_interval = poll_interval if listener is None else 1.0
        self.idle_stop = idle_stop
        self._watches: dict[UUID, set[Watch]] = defaultdict(set)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.cursor = 0

    def watch(self, shipment_id: UUID) -> Watch:
        """Start watching (before reading the current view, so no change
        falls between the two)."""
        w = Watch(shipment_id, asyncio.get_running_loop())
        with self._lock:
            self._watches[shipment_id].add(w)
            if self._thread is None or not self._thread.is_alive():
                self.cursor = self.view.position()
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="live-views", daemon=True)
                self._thread.start()
        return w

    def unwatch(self, w: Watch) -> None:
        with self._lock:
            found = self._watches.get(w.shipment_id)
            if found is not None:
                found.discard(w)
                if not found:
                    del self._watches[w.shipment_id]

    @property
    def open_streams(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._watches.values())

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5.0)

    # -- the watcher thread --------------------------------------------------------

    def _run(self) -> None:
        listener = None
        idle_since: float | None = None
        try:
            while not self._stopping.is_set():
                try:
                    if listener is None and self._listener_factory is not None:
                        listener = self._listener_factory()
                    told = None
                    if listener is not None:
                        told = listener.wait(self.poll_interval)  # type: ignore[attr-defined]
                    else:
                        self._stopping.wait(self.poll_interval)
                    self._deliver(told)
                except Exception as e:  # the database went away: wait, then go on
                    log.warning("live views: %s; trying again", e)
                    if listener is not None:
                        with contextlib.suppress(Exception):
                            listener.close()  # type: ignore[attr-defined]
                    listener = None
                    self._stopping.wait(1.0)
                with self._lock:
                    if self._watches:
                        idle_since = None
                    else:
                        now = time.monotonic()
                        idle_since = idle_since or now
                        if now - idle_since >= self.idle_stop:
                            self._thread = None
                            return
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    listener.close()  # type: ignore[attr-defined]

    def _deliver(self, told: object = None) -> None:
        """``told``: the NOTIFY's payload, the position the view committed
        (then it need not be asked: one query a wake, not two)."""
        position = int(told) if isinstance(told, str) and told.isdigit() else self.view.position()
        if position == self.cursor:
            return
        after = self.cursor if position > self.cursor else 0  # a rebuild started over
        with self._lock:
            watched = list(self._watches)
        rows = self.view.public_views_since(after, watched) if watched else []
        self.cursor = position
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Watch, int, bytes]]] = defaultdict(list)
        with self._lock:
            for sid, at, view in rows:
                for w in self._watches.get(sid, ()):
                    by_loop[w.loop].append((w, at, view))
        for loop, offers in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_offer_all, offers)


def _offer_all(offers: list[tuple[Watch, int, bytes]]) -> None:
    for w, at, view in offers:
        w.offer(at, view)


def live_views(settings: Any, views: Views) -> LiveViews:
    """The process's watcher on its shipments view: woken by that view's
    NOTIFY on PostgreSQL."""
    shipments = views[SHIPMENTS]
    channel = views.database.channel if views.database is not None else None
    if settings.is_postgres and channel is not None:
        from projections.sql import PostgresListener

        conninfo, _ = settings.postgres_conninfo()
        return LiveViews(shipments, listener=lambda: PostgresListener(conninfo, channel))
    return LiveViews(shipments)
