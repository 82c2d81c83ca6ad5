"""The read models' views on the real stores (SQLite, PostgreSQL)."""

from __future__ import annotations

import time
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import pytest
from eventsourcing.dispatch import singledispatchmethod

from adapters.composition import build_runner, build_service, build_view_store
from adapters.settings import Settings
from projections import runner as runner_module
from projections.customs import READ_MODEL as CUSTOMS
from projections.readmodel import BatchProjection, MemoryView, ReadModel, View, Views
from projections.registry import READ_MODELS
from projections.runner import ReadModelRunner, StreamReader
from projections.shipments import READ_MODEL as SHIPMENTS, ShipmentsProjection
from projections.sql import SqlView, Writer
from tests.builders import AGENT, HK_STO, TN, TYO_HAM_STO, at, booking, declaration, scan
from tests.projection_support import snapshot
from tracking.application import ShipmentService
from tracking.customs import CustomsStatus
from tracking.identifiers import shipment_id
from tracking.shipment import Shipment

TNS = [TN, "RR473124829US", "JJD000390007"]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
def store(settings: Settings) -> Iterator[Views]:
    s = build_view_store(settings)
    yield s
    s.close()


def traffic(service: ShipmentService) -> None:
    for tn in TNS:
        service.book(tn, booking(), HK_STO, AGENT)
    service.record_scans([scan("LOADED", "HKHKG", 3, voyage="V100", tn=tn) for tn in TNS])
    service.record_scans([scan("UNLOADED", "JPTYO", 6, voyage="V100", tn=tn) for tn in TNS])
    entry = service.customs.declare(declaration(tn=TNS[1]), AGENT).entry_id
    service.customs.record_customs_event(entry, CustomsStatus.LODGED, occurred_at=at(7), source=AGENT)
    service.customs.record_customs_event(entry, CustomsStatus.HELD, occurred_at=at(8), source=AGENT,
                                 reason="INSPECTION")
    service.shipments.reroute(TN, TYO_HAM_STO, AGENT)
    service.record_scans([scan("RECEIVED", "HKHKG", 2, tn=tn) for tn in TNS])
    service.record_scan(scan("DELIVERED", "SESTO", 24, tn=TNS[2]))


def test_a_runner_stopped_mid_stream_resumes_to_what_a_rebuild_gives(
    service: ShipmentService, store: Views, settings: Settings
) -> None:
    traffic(service)
    first = ReadModelRunner(service, store, batch_size=4)
    first.run_once()
    first.run_once()
    assert 0 < store.position() < service.position()
    # The process dies here; a new one opens the same store and goes on.
    store.close()
    reopened = build_view_store(settings)
    try:
        ReadModelRunner(service, reopened, batch_size=4).catch_up()
        assert reopened.position() == service.position()
        resumed = snapshot(reopened, TNS)
        ReadModelRunner(service, reopened).rebuild()
        assert snapshot(reopened, TNS) == resumed
        view = msgspec.json.decode(reopened[SHIPMENTS].public_view(shipment_id(TNS[2])))  # type: ignore[arg-type]
        assert view["status"] == "DELIVERED"
        open_ = reopened[SHIPMENTS].exceptions(state="open", kind=None, limit=10, offset=0)
        # Re-routed via Hamburg, TN now arrives after deliver_by; the other
        # is still misdirected in Tokyo and held by customs; the delivered
        # one needs nothing.
        assert sorted((e.tracking_number, e.kind.value) for e in open_) == [
            (TN, "LATE"),
            ("RR473124829US", "CUSTOMS_HOLD"),
            ("RR473124829US", "MISDIRECTED"),
        ]
        [held] = resumed["customs"]
        assert msgspec.json.decode(held)["status"] == "HELD"
    finally:
        reopened.close()


def test_the_background_runner_picks_up_another_process_writes(
    make_service, store: Views, settings: Settings  # type: ignore[no-untyped-def]
) -> None:
    writer, reader = make_service(), make_service()
    runner = build_runner(settings, reader, store).start()
    try:
        result = writer.book(TN, booking(), HK_STO, AGENT)
        deadline = time.monotonic() + 5
        while store.position() < (result.position or 0) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.position() >= (result.position or 0)
        assert store[SHIPMENTS].public_view(shipment_id(TN)) is not None
        assert runner.error is None
    finally:
        runner.stop()


def test_the_projection_process_killed_mid_stream_loses_and_doubles_nothing(
    service: ShipmentService, store: Views, settings: Settings
) -> None:
    import os
    import signal
    import subprocess
    import sys

    def many(prefix: str) -> None:
        tns = [f"{prefix}{i:08d}" for i in range(300)]
        for tn in tns:
            service.book(tn, booking(), HK_STO, AGENT)
        for day, event, where, voyage in [(2, "RECEIVED", "HKHKG", None), (3, "LOADED", "HKHKG", "V100"),
                                          (6, "UNLOADED", "JPTYO", "V100")]:
            service.record_scans([scan(event, where, day, voyage=voyage, tn=tn) for tn in tns])

    def start() -> subprocess.Popen[bytes]:
        env = {**os.environ, "TRACKING_DATABASE_URL": settings.database_url}
        return subprocess.Popen([sys.executable, "-m", "adapters.cli", "project"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    many("KILLA")
    end = service.position()
    process = start()
    try:
        deadline = time.monotonic() + 30
        while store.position() == 0 and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        killed_at = store.position()
        assert 0 < killed_at < end, "killed before or after the stream, not in it"
        many("KILLB")  # the log moves on while no runner is up
        process = start()
        deadline = time.monotonic() + 30
        while store.position() < service.position() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.position() == service.position()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    tns = [f"KILL{p}{i:08d}" for p in "AB" for i in range(300)]
    resumed = snapshot(store, tns)
    assert len(resumed["exceptions"]) == 600  # each misdirected in Tokyo, once
    ReadModelRunner(service, store).rebuild()
    assert snapshot(store, tns) == resumed


def test_a_rebuild_that_dies_half_way_is_completed_by_a_runner(
    service: ShipmentService, store: Views, monkeypatch: pytest.MonkeyPatch
) -> None:
    traffic(service)
    assert isinstance(service.recorder, StreamReader)  # the stream-by-stream rebuild
    assert ReadModelRunner(service, store).rebuild() == service.position()
    expected = snapshot(store, TNS)

    monkeypatch.setattr(runner_module, "REBUILD_CHUNK", 1)
    real = ShipmentsProjection.replay_streams
    calls = []

    def dies_at_the_third_stream(self: ShipmentsProjection, streams: Any, *, at: int) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        real(self, streams, at=at)

    monkeypatch.setattr(ShipmentsProjection, "replay_streams", dies_at_the_third_stream)
    with pytest.raises(RuntimeError):
        ReadModelRunner(service, store).rebuild()
    assert store.position() == 0  # two streams in, the views not yet moved
    monkeypatch.undo()
    ReadModelRunner(service, store).catch_up()
    assert store.position() == service.position()
    assert snapshot(store, TNS) == expected


def test_the_public_view_read_from_an_event_loop_is_the_same_and_survives_a_cut_connection(
    service: ShipmentService, store: Views, settings: Settings,
) -> None:
    import asyncio

    import psycopg

    service.book(TN, booking(), HK_STO, AGENT)
    service.record_scans([scan("RECEIVED", "HKHKG", 2)])
    build_runner(settings, service, store).catch_up()
    sid = shipment_id(TN)

    async def read_twice_with_a_cut_between() -> tuple[Any, Any, Any]:
        try:
            return await asyncio.wait_for(reads(), 30)
        finally:
            await store.aclose()

    async def reads() -> tuple[Any, Any, Any]:
        first = await store[SHIPMENTS].public_view_async(sid)
        if settings.is_postgres:  # the database ends every backend of the async pool
            conninfo, _ = settings.postgres_conninfo()
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                             "AND query LIKE 'SELECT public_view%'")
        second = await store[SHIPMENTS].public_view_async(sid)
        missing = await store[SHIPMENTS].public_view_async(shipment_id("RR000000000US"))
        return first, second, missing

    first, second, missing = asyncio.run(read_twice_with_a_cut_between())
    assert first == second == store[SHIPMENTS].public_view(sid) and first is not None
    assert msgspec.json.decode(first)["last_location"] == "HKHKG"
    assert missing is None


def test_a_view_whose_table_is_new_is_projected_again_from_the_log(
    service: ShipmentService, store: Views, settings: Settings
) -> None:
    traffic(service)
    build_runner(settings, service, store).catch_up()
    expected = snapshot(store, TNS)
    # A database from before the status table had its present layout: its
    # position says the view is up to date, but the table is not there.
    with store.database.transaction() as w:  # type: ignore[union-attr]
        w.execute("DROP TABLE shipment_views")
    store.close()
    reopened = build_view_store(settings)
    try:
        assert reopened[SHIPMENTS].position() == 0
        assert reopened[SHIPMENTS].exceptions(state=None, kind=None, limit=9, offset=0) == []
        assert reopened[CUSTOMS].position() == service.position()  # the others stay put
        build_runner(settings, service, reopened).catch_up()
        assert snapshot(reopened, TNS) == expected
    finally:
        reopened.close()


# -- a read model written here: one small module's worth, and one line to add it --------


class ScansPerDevice(BatchProjection["DeviceScans"]):
    def begin(self, events: Sequence[Any], *, fresh: bool) -> None:
        self.counted: Counter[str] = Counter()

    @singledispatchmethod
    def process_event(self, event: Any, position: int) -> None:
        """Not a scan."""

    @process_event.register
    def _scan(self, event: Shipment.ScanRecorded, position: int) -> None:
        if event.scan.device_id is not None:
            self.counted[event.scan.device_id] += 1

    def changes(self) -> Counter[str]:
        return self.counted


class DeviceScans(View[Counter[str]]):
    @abstractmethod
    def scans(self, device_id: str) -> int: ...


class MemoryDeviceScans(MemoryView[Counter[str]], DeviceScans):
    def _clear(self) -> None:
        self._counts: Counter[str] = Counter()

    def _write(self, changes: Counter[str]) -> None:
        self._counts.update(changes)

    def scans(self, device_id: str) -> int:
        return self._counts[device_id]


class SqlDeviceScans(SqlView[Counter[str]], DeviceScans):
    tables = {"scans_per_device": "device_id {text} PRIMARY KEY, scans {int} NOT NULL"}

    def _write(self, w: Writer, changes: Counter[str]) -> None:
        w.executemany("INSERT INTO scans_per_device VALUES (?, ?) ON CONFLICT (device_id) "
                      "DO UPDATE SET scans = scans_per_device.scans + excluded.scans",
                      list(changes.items()))

    def scans(self, device_id: str) -> int:
        found = self.db.query_one("SELECT scans FROM scans_per_device WHERE device_id = ?",
                                  (device_id,))
        return found[0] if found else 0


SCANS_PER_DEVICE = ReadModel("scans_per_device", ScansPerDevice, memory=MemoryDeviceScans,
                             sql=SqlDeviceScans)


def replayed_and_reset(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """The names of the views a rebuild resets and replays streams into, as it goes."""
    replayed: list[str] = []
    reset: list[str] = []
    replay, empty = BatchProjection.replay_streams, SqlView.reset

    def replaying(self: BatchProjection[Any], streams: Any, *, at: int) -> None:
        replayed.append(self.view.name)
        replay(self, streams, at=at)

    def resetting(self: SqlView[Any]) -> None:
        reset.append(self.name)
        empty(self)

    monkeypatch.setattr(BatchProjection, "replay_streams", replaying)
    monkeypatch.setattr(SqlView, "reset", resetting)
    return replayed, reset


def test_a_read_model_added_with_one_line_keeps_its_own_position_and_rebuilds_alone(
    service: ShipmentService, store: Views, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    traffic(service)
    service.record_scans([msgspec.structs.replace(scan("ARRIVED", "USLAX", 9, tn=tn),
                                                  device_id="lax-7") for tn in TNS[:2]])
    build_runner(settings, service, store).catch_up()  # the views there were
    end = service.position()
    with_it = build_view_store(settings, [*READ_MODELS, SCANS_PER_DEVICE])  # the one line
    try:
        counts = with_it[SCANS_PER_DEVICE]
        assert (with_it[SHIPMENTS].position(), counts.position()) == (end, 0)
        runner = build_runner(settings, service, with_it)
        assert runner.catch_up() == end  # the log read again for it alone
        assert counts.position() == end
        # 3 loaded, 3 unloaded, 3 received, 1 delivered by dev-1; 2 arrived seen by lax-7
        assert (counts.scans("dev-1"), counts.scans("lax-7"), counts.scans("x")) == (10, 2, 0)
        in_memory = Views.in_memory([SCANS_PER_DEVICE])
        ReadModelRunner(service, in_memory).rebuild()
        assert in_memory[SCANS_PER_DEVICE].scans("dev-1") == 10
        others = snapshot(with_it, TNS)

        replayed, reset = replayed_and_reset(monkeypatch)
        assert runner.rebuild(["scans_per_device"]) == end
        assert set(replayed) == set(reset) == {"scans_per_device"}
        assert (counts.scans("dev-1"), counts.scans("lax-7"), counts.position()) == (10, 2, end)
        assert snapshot(with_it, TNS) == others and with_it.position() == end
    finally:
        with_it.close()


def test_tracking_rebuild_rebuilds_the_read_model_named_or_every_one(
    service: ShipmentService, store: Views, settings: Settings,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from adapters.cli import main

    traffic(service)
    build_runner(settings, service, store).catch_up()
    expected = snapshot(store, TNS)
    monkeypatch.setenv("TRACKING_DATABASE_URL", settings.database_url)
    replayed, reset = replayed_and_reset(monkeypatch)

    assert main(["rebuild", "customs"]) == 0
    assert f"rebuilt the customs views from {service.position()} events" in capsys.readouterr().out
    assert set(replayed) == set(reset) == {"customs"}
    assert snapshot(store, TNS) == expected and store.position() == service.position()

    replayed.clear()
    reset.clear()
    assert main(["rebuild"]) == 0
    names = [m.name for m in READ_MODELS]  # every read model of the registry, in its order
    assert f"rebuilt the {', '.join(names)} views" in capsys.readouterr().out
    # Every view is emptied; the outbox replays the log in order rather than stream by stream.
    assert set(replayed) == set(names) - {"outbox"}
    assert set(reset) == set(names)
    assert snapshot(store, TNS) == expected and store.position() == service.position()
