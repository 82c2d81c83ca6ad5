"""Two real `tracking project` processes on the same views: exactly one
works on each read model at a time (a PostgreSQL advisory lock per read
model), the other takes over when the first is SIGKILLed, and the views
then equal a rebuild from the log."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import msgspec
import psycopg
import pytest

from adapters.composition import build_runner, build_service, build_view_store
from adapters.settings import Settings
from adapters.wire import ScanIn, to_scan
from projections.lease import lock_key
from projections.registry import READ_MODELS
from tests.faults.checker import check_invariants
from tests.faults.conftest import Process, Traffic
from tests.ports import free_port, listening
from tests.waiting import eventually

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(postgres_schema_url: str) -> Settings:
    return Settings(database_url=postgres_schema_url)


@pytest.fixture
def runners(settings: Settings) -> Iterator[list[Process]]:
    started = [Process(settings, "project").start() for _ in range(2)]
    yield started
    for p in started:
        if p.alive():
            p.kill()


def holders(settings: Settings, runners: list[Process]) -> dict[str, list[str]]:
    """Each read model: the application names of the sessions holding its lock."""
    conninfo, schema = settings.postgres_conninfo()
    keys = {lock_key(schema, m.name): m.name for m in READ_MODELS}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT (l.classid::bigint << 32) | l.objid::bigint, a.application_name "
            "FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted "
            "AND a.application_name = ANY(%s)", ([r.app_name for r in runners],)).fetchall()
    found: dict[str, list[str]] = {m.name: [] for m in READ_MODELS}
    for key, app in rows:
        if key in keys:
            found[keys[key]].append(app)
    return found


def record(settings: Settings, traffic: Traffic, start: int, stop: int) -> None:
    service = build_service(settings)
    try:
        decoder = msgspec.json.Decoder(ScanIn)
        for i in range(start, stop, 20):
            batch = [to_scan(decoder.decode(msgspec.json.encode(s)))
                     for s in traffic.scans[i:min(i + 20, stop)]]
            service.record_scans(batch)
    finally:
        service.close()


def test_one_runner_works_per_read_model_and_the_other_takes_over_when_it_is_killed(
    settings: Settings, runners: list[Process]
) -> None:
    traffic = Traffic.make(shipments=60, per_shipment=10, seed=23)
    traffic.book(settings)
    half = len(traffic.scans) // 2
    record(settings, traffic, 0, half)

    def one_each() -> dict[str, list[str]] | None:
        found = holders(settings, runners)
        return found if all(len(apps) == 1 for apps in found.values()) else None

    held = eventually(one_each, timeout=60, what="each read model locked by one runner")
    first = next(r for r in runners if r.app_name in held[READ_MODELS[0].name])
    other = next(r for r in runners if r is not first)

    writer = threading.Thread(target=record, args=(settings, traffic, half, len(traffic.scans)))
    writer.start()
    first.kill()  # SIGKILL, mid-stream: its session, and its locks, go with it
    writer.join(120)
    assert not writer.is_alive()

    eventually(lambda: all(apps == [other.app_name] for apps in holders(settings, runners).values()),
               timeout=30, what=f"the other runner holds every read model\n{other.tail()}")
    assert other.alive(), other.tail()
    acked = [(s["tracking_number"], s["scan_id"]) for s in traffic.scans]
    report = check_invariants(settings, acked=acked, tracking_numbers=traffic.shipments)
    assert report["recorded"] == len(traffic.scans)


def test_a_runner_without_the_lease_works_on_nothing_until_the_holder_lets_go(
    settings: Settings,
) -> None:
    traffic = Traffic.make(shipments=5, per_shipment=2, seed=24)
    traffic.book(settings)
    services = [build_service(settings) for _ in range(2)]
    stores = [build_view_store(settings) for _ in range(2)]
    first, second = (build_runner(settings, s, v, exclusive=True)
                     for s, v in zip(services, stores, strict=True))
    try:
        assert first.catch_up() > 0
        record(settings, traffic, 0, len(traffic.scans))
        assert second.run_once() == 0 and second.check_stalled() == []
        end = services[1].position()
        assert stores[1].position() < end  # nobody has projected the scans yet
        first.stop()  # gives its read models up
        second.lease.retry_every = 0.0
        eventually(lambda: second.catch_up() > 0, what="the second runner takes over")
        assert stores[1].position() == end
    finally:
        second.stop()
        for closing in (*stores, *services):
            closing.close()


def waiting_for_the_lease(settings: Settings, app_name: str) -> bool:
    """Whether that process's session is queued for a read model's lock
    (not for another advisory lock, as the views' tables' creation takes)."""
    conninfo, schema = settings.postgres_conninfo()
    keys = [lock_key(schema, m.name) for m in READ_MODELS]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(
            "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND NOT l.granted "
            "AND (l.classid::bigint << 32) | l.objid::bigint = ANY(%s) "
            "AND a.application_name = %s", (keys, app_name)).fetchone() is not None


def connected(settings: Settings, app_name: str) -> bool:
    with psycopg.connect(settings.postgres_conninfo()[0], autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = %s",
                            (app_name,)).fetchone() is not None


def finished(process: Process, timeout: float) -> int:
    assert process.process is not None
    return process.process.wait(timeout)


def test_a_rebuild_is_refused_beside_a_working_runner_and_with_wait_goes_before_its_standby(
    settings: Settings,
) -> None:
    traffic = Traffic.make(shipments=40, per_shipment=10, seed=25)
    traffic.book(settings)
    half = len(traffic.scans) // 2
    record(settings, traffic, 0, half)
    working = Process(settings, "project").start()
    standby = Process(settings, "project")
    started = [working, standby]
    try:
        eventually(lambda: all(apps == [working.app_name]
                               for apps in holders(settings, [working]).values()),
                   timeout=60, what=f"the first runner holds every read model\n{working.tail()}")
        standby.start()
        eventually(lambda: connected(settings, standby.app_name), timeout=60,
                   what=f"the second runner stands by\n{standby.tail()}")

        refused = Process(settings, "rebuild")
        started.append(refused.start())
        assert finished(refused, 60) == 1, refused.tail()
        said = refused.log.read_text()
        assert "refused: another process is keeping these views up" in said, said
        assert f"application '{working.app_name}'" in said, said  # it names who holds them

        waiting = Process(settings, "rebuild --wait 60")
        started.append(waiting.start())
        eventually(lambda: waiting_for_the_lease(settings, waiting.app_name), timeout=60,
                   what=f"the rebuild queues for the lease\n{waiting.tail()}")
        writer = threading.Thread(target=record, args=(settings, traffic, half, len(traffic.scans)))
        working.kill()  # its locks go to the rebuild queued for them, not to the standby
        writer.start()
        assert finished(waiting, 90) == 0, waiting.tail()
        assert "rebuilt the" in waiting.log.read_text(), waiting.tail()
        writer.join(120)
        assert not writer.is_alive()

        eventually(lambda: all(apps == [standby.app_name]
                               for apps in holders(settings, [standby]).values()),
                   timeout=30, what=f"the standby takes the views on\n{standby.tail()}")
        acked = [(s["tracking_number"], s["scan_id"]) for s in traffic.scans]
        report = check_invariants(settings, acked=acked, tracking_numbers=traffic.shipments)
        assert report["recorded"] == len(traffic.scans)
    finally:
        for p in started:
            if p.alive():
                p.kill()


def test_tracking_all_keeps_the_views_under_the_lease_taking_turns_with_tracking_project(
    postgres_schema_url: str,
) -> None:
    settings = Settings(database_url=postgres_schema_url, http_port=free_port())
    traffic = Traffic.make(shipments=30, per_shipment=10, seed=26)
    traffic.book(settings)
    third = len(traffic.scans) // 3
    record(settings, traffic, 0, third)
    project = Process(settings, "project").start()
    everything = Process(settings, "all", TRACKING_MQTT_EMBEDDED_PORT=str(free_port()))
    try:
        eventually(lambda: all(apps == [project.app_name]
                               for apps in holders(settings, [project]).values()),
                   timeout=60, what=f"tracking project holds every read model\n{project.tail()}")
        everything.start()
        eventually(lambda: listening(settings.http_port), timeout=60,
                   what=f"tracking all answers\n{everything.tail()}")
        record(settings, traffic, third, 2 * third)
        both = [project, everything]
        assert all(apps == [project.app_name] for apps in holders(settings, both).values())

        project.kill()
        eventually(lambda: all(apps == [everything.app_name]
                               for apps in holders(settings, both).values()),
                   timeout=30, what=f"tracking all takes the views on\n{everything.tail()}")
        record(settings, traffic, 2 * third, len(traffic.scans))
        acked = [(s["tracking_number"], s["scan_id"]) for s in traffic.scans]
        report = check_invariants(settings, acked=acked, tracking_numbers=traffic.shipments)
        assert report["recorded"] == len(traffic.scans)
        assert everything.alive(), everything.tail()
    finally:
        for p in (project, everything):
            if p.alive():
                p.kill()
