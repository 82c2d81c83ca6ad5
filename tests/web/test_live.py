"""One watcher per process hands open streams their shipment's new views:
woken on PostgreSQL by the NOTIFY the views send as they commit, polling
elsewhere; it holds the only connection, and only while a stream is open."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg

from adapters.live import LiveViews
from projections.shipments import MemoryShipmentsView, ShipmentChanges, SqlShipmentsView, StatusRow
from projections.sql import PostgresDatabase


def row(sid: uuid.UUID, position: int, view: bytes) -> StatusRow:
    return StatusRow(shipment_id=sid, tracking_number=sid.hex[:12].upper(), booked=True,
                     status="IN_TRANSIT", unfinished=True, may_stall=True,
                     last_activity_at=datetime(2009, 3, 1, tzinfo=UTC), position=position,
                     projected=b"{}", public_view=view, full_view=view)


def rows(*found: StatusRow) -> ShipmentChanges:
    return ShipmentChanges(list(found), [], [])


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run on a loop of its own thread (a browser test's Playwright may hold this one's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_the_postgres_views_notify_their_channel_as_they_commit(postgres_schema_url: str) -> None:
    conninfo, schema = postgres_schema_url.split("?schema=")
    db = PostgresDatabase(conninfo, schema)
    store = SqlShipmentsView(db, "shipments")
    try:
        with psycopg.connect(conninfo, autocommit=True) as listen:
            listen.execute(f'LISTEN "{db.channel}"')
            sid = uuid.uuid4()
            store.commit(rows(row(sid, 7, b'{"n":7}')), after=0, position=7)
            got = next(listen.notifies(timeout=10, stop_after=1))
            assert (got.channel, got.payload) == (db.channel, "7")
        assert store.public_views_since(6, [sid]) == [(sid, 7, b'{"n":7}')]
        assert store.public_views_since(7, [sid]) == []
    finally:
        db.close()


def test_a_watch_gets_its_shipment_s_newer_views_only() -> None:
    store = MemoryShipmentsView("shipments")
    live = LiveViews(store, poll_interval=0.01)
    mine, other = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> list[tuple[int, bytes] | None]:
        watch = live.watch(mine)
        store.commit(rows(row(other, 1, b"other")), after=0, position=1)
        store.commit(rows(row(mine, 2, b"v2")), after=1, position=2)
        first = await watch.next(10)
        store.commit(rows(row(mine, 3, b"v3"), row(other, 3, b"other")), after=2, position=3)
        second = await watch.next(10)
        live.unwatch(watch)
        return [first, second]

    try:
        assert run(scenario()) == [(2, b"v2"), (3, b"v3")]
    finally:
        live.stop()


def test_the_watcher_and_its_connection_go_when_no_stream_is_open() -> None:
    closed = threading.Event()

    class Listener:
        def wait(self, timeout: float) -> None:
            closed.wait(timeout / 10)

        def close(self) -> None:
            closed.set()

    live = LiveViews(MemoryShipmentsView("shipments"), listener=Listener, idle_stop=0.05)

    async def one_stream() -> None:
        live.unwatch(live.watch(uuid.uuid4()))

    run(one_stream())
    assert closed.wait(10), "the watcher kept its connection with no stream open"
    assert live.open_streams == 0


def test_the_listener_wakes_once_for_what_came_and_says_the_last_position(
    postgres_url: str,
) -> None:
    from projections.sql import PostgresListener

    channel = f"test_live_{uuid.uuid4().hex[:12]}"
    listener = PostgresListener(postgres_url, channel)
    try:
        assert listener.wait(0.05) is None  # nothing told
        # Both told in one commit, as a batch of positions is: they reach the
        # listener together. (Told by two commits, the second may still be on
        # its way when the first wakes it, and is then the next wake's.)
        with psycopg.connect(postgres_url) as conn, conn.transaction():
            for position in ("7", "9"):
                conn.execute("SELECT pg_notify(%s, %s)", (channel, position))
        assert listener.wait(5.0) == "9"
        assert listener.wait(0.05) is None  # both taken by the one wake
    finally:
        listener.close()
