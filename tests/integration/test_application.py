"""The application service on the real stores: SQLite and PostgreSQL, the
same tests for both (see the ``database_url`` fixture)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from tests.builders import AGENT, HK_STO, TN, TYO_HAM_STO, at, booking, scan
from tests.conftest import ServiceFactory
from tracking.application import ScanResult, ShipmentService
from tracking.codes import Status
from tracking.errors import BookingConflict, ShipmentNotFound
from tracking.identifiers import TrackingNumber, shipment_id
from tracking.shipment import Shipment

OTHER = TrackingNumber("RR473124829US")


def numbers(n: int) -> list[TrackingNumber]:
    return [TrackingNumber(f"TEST{i:08d}") for i in range(n)]


def test_booking_answers_with_its_position_and_is_idempotent(service: ShipmentService) -> None:
    first = service.book(TN, booking(), HK_STO, AGENT)
    assert first.changed and first.position == service.position()
    again = service.book(TN, booking(), HK_STO, AGENT)
    assert not again.changed and again.position is None
    with pytest.raises(BookingConflict):
        service.book(TN, booking(carrier="dhl"), HK_STO, AGENT)
    assert [type(e) for e in service.history(TN)] == [Shipment.Opened, Shipment.Booked]


def test_an_unknown_number_is_not_found(service: ShipmentService) -> None:
    with pytest.raises(ShipmentNotFound):
        service.delivery(TN)
    with pytest.raises(ShipmentNotFound):
        service.history(TN)
    with pytest.raises(ShipmentNotFound):
        service.shipments.reroute(TN, TYO_HAM_STO, AGENT)


def test_scans_before_booking_are_kept_durably_and_applied_once_booked(
    make_service: ServiceFactory,
) -> None:
    scanner = make_service()
    [outcome] = scanner.record_scans([scan("RECEIVED", "HKHKG", 2)])
    assert outcome.result is ScanResult.RECORDED and not outcome.booked
    with pytest.raises(ShipmentNotFound):
        scanner.delivery(TN)
    # Booked later, by another process that never saw the scan.
    merchant = make_service()
    merchant.book(TN, booking(), HK_STO, AGENT)
    d = merchant.delivery(TN)
    assert d.status is Status.IN_TRANSIT and d.last_location == "HKHKG"
    assert [type(e) for e in merchant.history(TN)] == [
        Shipment.Opened,
        Shipment.ScanRecorded,
        Shipment.Booked,
    ]


def test_the_same_scan_id_is_recorded_once(service: ShipmentService) -> None:
    service.book(TN, booking(), HK_STO, AGENT)
    s = scan("RECEIVED", "HKHKG", 2, scan_id="dup-1")
    outcomes = service.record_scans([s, s])
    assert [o.result for o in outcomes] == [ScanResult.RECORDED, ScanResult.DUPLICATE]
    assert outcomes[1].duplicate
    assert service.record_scan(s).duplicate
    assert len(service.get(TN).scans) == 1


def test_a_batch_across_many_shipments_is_one_transaction_of_contiguous_positions(
    service: ShipmentService,
) -> None:
    tns = numbers(20)
    for tn in tns:
        service.book(tn, booking(), HK_STO, AGENT)
    before = service.position()
    outcomes = service.record_scans([scan("RECEIVED", "HKHKG", 2, tn=tn) for tn in tns])
    positions = [o.position for o in outcomes]
    assert positions == list(range(before + 1, before + 21))
    assert all(o.result is ScanResult.RECORDED and o.booked for o in outcomes)


def test_a_rejected_scan_does_not_hold_back_the_others(make_service: ServiceFactory) -> None:
    service = make_service(clock=lambda: at(2, 12))
    service.book(TN, booking(), HK_STO, AGENT)
    good = scan("RECEIVED", "HKHKG", 2)
    future = scan("LOADED", "HKHKG", 9, voyage="V100")  # a week ahead of the clock
    new_number = scan("RECEIVED", "HKHKG", 2, tn=OTHER)
    outcomes = service.record_scans([good, future, new_number])
    assert [o.result for o in outcomes] == [
        ScanResult.RECORDED,
        ScanResult.REJECTED,
        ScanResult.RECORDED,
    ]
    assert outcomes[1].field == "occurred_at" and "clock" in (outcomes[1].reason or "")
    assert service.get(TN).scans == [good]
    # A rejected scan for a new number leaves no trace of that number.
    only_future = service.record_scans([scan("RECEIVED", "HKHKG", 9, tn="JJD000390007")])
    assert only_future[0].result is ScanResult.REJECTED
    assert list(service.events.get(shipment_id("JJD000390007"))) == []


def test_what_is_recorded_survives_a_restart(make_service: ServiceFactory) -> None:
    first = make_service()
    first.book(TN, booking(), HK_STO, AGENT)
    first.record_scans([scan("RECEIVED", "HKHKG", 2), scan("LOADED", "HKHKG", 3, voyage="V100")])
    first.close()
    again = make_service()
    d = again.delivery(TN)
    assert d.current_voyage == "V100" and d.next_expected is not None
    assert d.next_expected.location == "USLAX"


def test_a_writer_with_stale_state_retries_and_sees_duplicates(
    make_service: ServiceFactory,
) -> None:
    a, b = make_service(), make_service()
    a.book(TN, booking(), HK_STO, AGENT)
    b.delivery(TN)  # b now caches version 2
    received = scan("RECEIVED", "HKHKG", 2)
    a.record_scan(received)  # version 3, unseen by b
    loaded = scan("LOADED", "HKHKG", 3, voyage="V100")
    assert b.record_scan(loaded).result is ScanResult.RECORDED  # conflict, reload, retry
    assert b.record_scan(received).duplicate
    assert a.record_scan(loaded).duplicate
    versions = [e.originator_version for e in a.history(TN)]
    assert versions == [1, 2, 3, 4]


def test_concurrent_writers_lose_nothing(make_service: ServiceFactory) -> None:
    """Two processes (two services, separate caches) and two threads each,
    all writing to the same few shipments: every scan is recorded once."""
    tns = numbers(3)
    setup = make_service()
    for tn in tns:
        setup.book(tn, booking(), HK_STO, AGENT)
    services = [make_service(), make_service()]
    per_writer = 15
    errors: list[BaseException] = []

    def write(service: ShipmentService, writer: int) -> None:
        try:
            for i in range(per_writer):
                s = scan("EXCEPTION", "HKHKG", 2, reason="OTHER", tn=tns[i % 3],
                         scan_id=f"w{writer}-{i}")
                assert service.record_scan(s).result is ScanResult.RECORDED
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [
        threading.Thread(target=write, args=(services[w % 2], w)) for w in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = make_service()
    recorded = [len(check.get(tn).scans) for tn in tns]
    assert sum(recorded) == 4 * per_writer
    for tn in tns:
        versions = [e.originator_version for e in check.history(tn)]
        assert versions == list(range(1, len(versions) + 1))


def test_reroute_is_recorded_with_its_source_and_time(make_service: ServiceFactory) -> None:
    now = datetime(2009, 3, 7, tzinfo=UTC)
    service = make_service(clock=lambda: now)
    service.book(TN, booking(), HK_STO, AGENT)
    result = service.shipments.reroute(TN, TYO_HAM_STO, AGENT)
    assert result.changed and result.position == service.position()
    assert not service.shipments.reroute(TN, TYO_HAM_STO, AGENT).changed
    rerouted = service.history(TN)[-1]
    assert isinstance(rerouted, Shipment.Rerouted)
    assert rerouted.effective_at == now and rerouted.source == AGENT


def test_as_of_answers_from_the_events_recorded_by_then(service: ShipmentService) -> None:
    service.book(TN, booking(), HK_STO, AGENT)
    service.record_scan(scan("RECEIVED", "HKHKG", 2))
    between = datetime.now(UTC)
    service.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100"))
    then = service.shipments.get_as_of(TN, between)
    assert len(then.scans) == 1
    assert then.delivery().transport_status.value == "AT_FACILITY"
    assert service.delivery(TN).transport_status.value == "ONBOARD"


def test_a_batch_reloads_only_the_shipments_another_writer_changed(
    make_service: ServiceFactory,
) -> None:
    tns = numbers(5)
    a, b = make_service(), make_service()
    for tn in tns:
        a.book(tn, booking(), HK_STO, AGENT)
    b.record_scan(scan("RECEIVED", "HKHKG", 2, tn=tns[0]))  # a's copy of tns[0] is stale now
    loads: list[int] = []
    select_many = a.recorder.select_latest_many  # type: ignore[attr-defined]

    def counting(ids):  # type: ignore[no-untyped-def]
        loads.append(len(ids))
        return select_many(ids)

    a.recorder.select_latest_many = counting  # type: ignore[attr-defined]
    outcomes = a.record_scans([scan("LOADED", "HKHKG", 3, voyage="V100", tn=tn) for tn in tns])
    assert all(o.result is ScanResult.RECORDED for o in outcomes)
    assert loads == [1]
    assert len(a.get(tns[0]).scans) == 2


def test_lookups_see_what_another_process_wrote(make_service: ServiceFactory) -> None:
    a, b = make_service(), make_service()
    a.book(TN, booking(), HK_STO, AGENT)
    assert b.delivery(TN).transport_status.value == "NOT_RECEIVED"  # b caches it now
    a.record_scan(scan("RECEIVED", "HKHKG", 2))
    assert b.delivery(TN).transport_status.value == "AT_FACILITY"
    assert len(b.get(TN).scans) == 1


def test_a_batch_that_loses_a_race_reloads_only_what_moved_on(
    make_service: ServiceFactory,
) -> None:
    """The other writer saves between a's version check and a's insert."""
    tns = numbers(5)
    a, b = make_service(), make_service()
    for tn in tns:
        a.book(tn, booking(), HK_STO, AGENT)
    loads: list[int] = []
    select_many = a.recorder.select_latest_many  # type: ignore[attr-defined]
    a.recorder.select_latest_many = lambda ids: loads.append(len(ids)) or select_many(ids)  # type: ignore[attr-defined]
    check = a.store.evict_stale
    raced = []

    def check_then_race(ids):  # type: ignore[no-untyped-def]
        check(ids)
        if not raced:  # first attempt: b writes one shipment right after the check
            raced.append(b.record_scan(scan("RECEIVED", "HKHKG", 2, tn=tns[3])))

    a.store.evict_stale = check_then_race  # type: ignore[method-assign]
    outcomes = a.record_scans([scan("LOADED", "HKHKG", 3, voyage="V100", tn=tn) for tn in tns])
    assert all(o.result is ScanResult.RECORDED for o in outcomes)
    assert loads == [1]  # the conflict reloaded tns[3] only
    for tn in tns:
        versions = [e.originator_version for e in a.history(tn)]
        assert versions == list(range(1, len(versions) + 1))
    assert len(a.get(tns[3]).scans) == 2 and len(a.get(tns[0]).scans) == 1


def test_a_batch_replayed_from_the_store_that_loses_a_race_replays_it_again(
    make_service: ServiceFactory,
) -> None:
    """Shipments just replayed (none cached) are not copied before the
    command: a lost race drops them, and the retry replays them afresh."""
    tns = numbers(5)
    booker, b = make_service(), make_service()
    for tn in tns:
        booker.book(tn, booking(), HK_STO, AGENT)
    a = make_service()  # nothing cached
    loads: list[int] = []
    select_many = a.recorder.select_latest_many  # type: ignore[attr-defined]

    def select_then_race(ids):  # type: ignore[no-untyped-def]
        stored = select_many(ids)
        loads.append(len(ids))
        if len(loads) == 1:  # b writes one of them after a has read them
            b.record_scan(scan("RECEIVED", "HKHKG", 2, tn=tns[3]))
        return stored

    a.recorder.select_latest_many = select_then_race  # type: ignore[attr-defined]
    outcomes = a.record_scans([scan("LOADED", "HKHKG", 3, voyage="V100", tn=tn) for tn in tns])
    assert all(o.result is ScanResult.RECORDED for o in outcomes)
    assert loads == [5, 5]  # replayed, lost the race, replayed again
    for tn in tns:
        versions = [e.originator_version for e in a.history(tn)]
        assert versions == list(range(1, len(versions) + 1))
        assert len(a.get(tn).scans) == (2 if tn == tns[3] else 1)
        assert a.get(tn).version == versions[-1]  # the cache holds what was saved


def test_concurrent_callers_sharing_transactions_record_each_scan_once(
    service: ShipmentService,
) -> None:
    # Eight HTTP-like callers at once through the group commit: the same 30
    # scans from all of them (devices resending), plus 5 of each caller's own.
    from adapters.groupcommit import GroupCommit

    tns = numbers(10)
    for tn in tns:
        service.book(tn, booking(), HK_STO, AGENT)
    shared = [scan("RECEIVED", "HKHKG", 2, hour=i % 24, tn=tns[i % 10], scan_id=f"shared-{i}")
              for i in range(30)]  # fmt: skip
    writer = GroupCommit(service.record_scans, max_scans=40)
    results: dict[int, list] = {}  # type: ignore[type-arg]

    def caller(k: int) -> None:
        own = [scan("ARRIVED", "HKHKG", 3, tn=tns[(k + j) % 10], scan_id=f"own-{k}-{j}")
               for j in range(5)]  # fmt: skip
        mine: list = []  # type: ignore[type-arg]
        for chunk in (shared[:10], own, shared[10:]):
            mine += writer.record(chunk)
        results[k] = mine

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8
    recorded = [o.scan_id for r in results.values() for o in r if o.result is ScanResult.RECORDED]
    assert sorted(recorded) == sorted(
        [s.scan_id for s in shared] + [f"own-{k}-{j}" for k in range(8) for j in range(5)])
    assert {o.result for r in results.values() for o in r} == {
        ScanResult.RECORDED, ScanResult.DUPLICATE}  # the shared scans, 7 times in 8
    # Each recorded scan answers with the position its event has in the log.
    by_position = {o.position: o.scan_id for r in results.values() for o in r if o.position}
    assert len(by_position) == len(recorded)
    in_log = [e for tn in tns for e in service.history(tn) if isinstance(e, Shipment.ScanRecorded)]
    assert sorted(e.scan.scan_id for e in in_log) == sorted(recorded)


@pytest.mark.postgres
def test_postgres_sessions_plan_key_lookups_without_jit_or_parallel_workers(
    postgres_schema_url: str,
) -> None:
    # With no table statistics (autovacuum off) the planner guessed millions
    # of rows for `originator_id = ANY(ids)` and compiled each query with JIT
    # across parallel workers: 0.3-0.9 s a query on 2 million events.
    from adapters.composition import build_service, build_view_store
    from adapters.settings import Settings

    settings = Settings(database_url=postgres_schema_url)
    service, views = build_service(settings), build_view_store(settings)
    try:
        with service.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            found = conn.execute("SELECT current_setting('jit') AS jit, current_setting("
                                 "'max_parallel_workers_per_gather') AS workers").fetchone()
            assert found == {"jit": "off", "workers": "0"}
        assert views.database.query("SELECT current_setting('jit'), "  # type: ignore[union-attr]
                            "current_setting('max_parallel_workers_per_gather')") == [("off", "0")]
    finally:
        views.close()
        service.close()
