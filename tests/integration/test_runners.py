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
