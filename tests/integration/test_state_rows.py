"""Shipments' state rows on PostgreSQL (tracking.state_codec): a shipment
nobody has cached loads from one row, and loads exactly as its events make
it, whatever state the row is in (current, behind its events, of an older
format, of a format this code does not know)."""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
import pytest
from psycopg import sql

from adapters.composition import build_service, build_view_store
from adapters.settings import Settings
from projections.runner import ReadModelRunner
from tests.builders import AGENT, HK_STO, TN, TYO_HAM_STO, at, booking, declaration, scan
from tests.conftest import ServiceFactory
from tests.projection_support import snapshot
from tracking import state_codec
from tracking.application import ShipmentService
from tracking.customs import CustomsStatus
from tracking.identifiers import shipment_id
from tracking.mapper import enc_hook
from tracking.shipment import Shipment
from tracking.unitofwork import StoredState, replay

pytestmark = pytest.mark.postgres

TNS = [TN, "RR473124829US", "JJD000390007"]


@pytest.fixture
def database_url(postgres_schema_url: str) -> str:
    """Only PostgreSQL keeps state rows: conftest's make_service, on it."""
    return postgres_schema_url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


def traffic(settings: Settings) -> None:
    """A varied history, each command from a service that has cached nothing,
    so every shipment it changes was loaded from its state row."""

    def cold(command: Any) -> Any:
        service = build_service(settings)
        try:
            return command(service)
        finally:
            service.close()

    cold(lambda s: s.book(TNS[0], booking(), HK_STO, AGENT))
    cold(lambda s: s.record_scan(scan("RECEIVED", "HKHKG", 2, tn=TNS[1])))  # before its booking
    for tn in TNS[1:]:
        cold(lambda s, tn=tn: s.book(tn, booking(), HK_STO, AGENT))
    cold(lambda s: s.record_scans([scan("LOADED", "HKHKG", 3, voyage="V100", tn=tn) for tn in TNS]))
    cold(lambda s: s.record_scans([scan("UNLOADED", "JPTYO", 6, voyage="V100", tn=tn) for tn in TNS]))
    entry = cold(lambda s: s.customs.declare(declaration(tn=TNS[1]), AGENT).entry_id)
    cold(lambda s: s.customs.record_customs_event(entry, CustomsStatus.LODGED, occurred_at=at(7),
                                          source=AGENT))
    cold(lambda s: s.customs.record_customs_event(entry, CustomsStatus.HELD, occurred_at=at(8),
                                          source=AGENT, reason="INSPECTION"))
    cold(lambda s: s.shipments.reroute(TNS[0], TYO_HAM_STO, AGENT))
    cold(lambda s: s.record_scans([scan("RECEIVED", "HKHKG", 2, tn=tn) for tn in TNS]))  # late
    cold(lambda s: s.record_scan(scan("DELIVERED", "SESTO", 24, tn=TNS[2])))
    cold(lambda s: s.record_scan(scan("ARRIVED", "SESTO", 23, tn=TNS[2])))  # after the end


def from_events(service: ShipmentService, tn: str) -> Shipment:
    stored = service.recorder.select_events_many([shipment_id(tn)])  # type: ignore[attr-defined]
    shipment: Shipment = replay(map(service.mapper.to_domain_event, stored))
    return shipment


def cold_load(service: ShipmentService, tn: str) -> Shipment:
    found = dict(service.store.reconstruct([shipment_id(tn)]))[shipment_id(tn)]
    assert isinstance(found, Shipment)
    return found


def assert_same(loaded: Shipment, replayed: Shipment) -> None:
    assert loaded.state() == replayed.state()
    assert loaded.version == replayed.version
    assert loaded.scan_ids == replayed.scan_ids and loaded.after_end == replayed.after_end
    assert loaded.delivery() == replayed.delivery()


def state_rows(settings: Settings) -> tuple[psycopg.Connection[Any], sql.Composable]:
    conninfo, schema = settings.postgres_conninfo()
    return psycopg.connect(conninfo, autocommit=True), sql.Identifier(schema, "tracking_states")


def test_a_cold_load_reads_one_row_per_shipment_and_equals_the_replay(
    make_service: ServiceFactory, settings: Settings
) -> None:
    traffic(settings)
    reader = make_service()
    ids = [shipment_id(tn) for tn in TNS]
    rows = reader.recorder.select_latest_many(ids)
    assert [type(r) for r in rows] == [StoredState] * 3  # one row each, in one query
    versions = {r.originator_id: r.originator_version for r in rows}
    for tn in TNS:
        replayed = from_events(reader, tn)
        assert versions[shipment_id(tn)] == replayed.version  # written with its events
        assert_same(cold_load(reader, tn), replayed)


def test_the_views_kept_live_from_state_loaded_writes_equal_a_rebuild_from_events(
    make_service: ServiceFactory, settings: Settings
) -> None:
    store = build_view_store(settings)
    try:
        runner = ReadModelRunner(make_service(), store)
        traffic(settings)
        runner.catch_up()
        live = snapshot(store, TNS)
        runner.rebuild()
        assert snapshot(store, TNS) == live
    finally:
        store.close()


def test_a_state_row_behind_its_events_is_brought_forward_by_them(
    make_service: ServiceFactory, settings: Settings
) -> None:
    writer = make_service()
    writer.book(TN, booking(), HK_STO, AGENT)
    # Events written by a path that keeps no state rows (as before this code).
    writer.recorder.keeps_states = False  # type: ignore[attr-defined]
    writer.record_scan(scan("RECEIVED", "HKHKG", 2))
    writer.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100"))
    reader = make_service()
    rows = reader.recorder.select_latest_many([shipment_id(TN)])
    assert [type(r).__name__ for r in rows] == ["StoredState", "StoredEvent", "StoredEvent"]
    assert_same(cold_load(reader, TN), from_events(reader, TN))
    # The next save writes the row as it is now.
    reader.record_scan(scan("DEPARTED", "HKHKG", 3, 6, voyage="V100"))
    rows = make_service().recorder.select_latest_many([shipment_id(TN)])
    assert [type(r) for r in rows] == [StoredState]
    assert rows[0].originator_version == from_events(reader, TN).version


def test_a_write_that_loses_a_race_leaves_the_state_row_as_the_winner_wrote_it(
    make_service: ServiceFactory, settings: Settings
) -> None:
    a, b = make_service(), make_service()
    a.book(TN, booking(), HK_STO, AGENT)
    b.get(TN)  # b caches it
    a.record_scan(scan("RECEIVED", "HKHKG", 2, scan_id="from-a"))
    b.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100", scan_id="from-b"))  # retried
    loaded = cold_load(make_service(), TN)
    assert {s.scan_id for s in loaded.scans} == {"from-a", "from-b"}
    assert_same(loaded, from_events(a, TN))


def rewrite_row(settings: Settings, format_: int, document: dict[str, Any]) -> None:
    conn, table = state_rows(settings)
    with conn:
        conn.execute(sql.SQL("UPDATE {} SET format = %s, state = %s WHERE id = %s").format(table),
                     (format_, msgspec.json.encode(document), shipment_id(TN)))


def current_document(service: ShipmentService) -> dict[str, Any]:
    state = cold_load(service, TN).state()
    document: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(state, enc_hook=enc_hook))
    return document


def test_a_row_of_a_format_this_code_does_not_know_is_not_read_the_stream_is_replayed(
    make_service: ServiceFactory, settings: Settings
) -> None:
    writer = make_service()
    writer.book(TN, booking(), HK_STO, AGENT)
    writer.record_scan(scan("RECEIVED", "HKHKG", 2))
    document = current_document(writer)
    document["scans"] = []  # what a newer release means by it is not ours to guess
    rewrite_row(settings, state_codec.FORMAT + 1, document)
    assert_same(cold_load(make_service(), TN), from_events(writer, TN))


def test_a_row_of_an_older_format_is_upcast(
    make_service: ServiceFactory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = make_service()
    writer.book(TN, booking(), HK_STO, AGENT)
    writer.record_scan(scan("RECEIVED", "HKHKG", 2))
    document = current_document(writer)
    # Format 0 (say) called last_activity_at "last_heard_at".
    document["last_heard_at"] = document.pop("last_activity_at")
    rewrite_row(settings, state_codec.FORMAT - 1, document)
    reader = make_service()
    replays: list[int] = []
    events_many = reader.recorder.select_events_many  # type: ignore[attr-defined]
    reader.recorder.select_events_many = (  # type: ignore[attr-defined]
        lambda ids: replays.append(len(ids)) or events_many(ids))
    # No upcast from that format is known: the stream is replayed instead.
    assert_same(cold_load(reader, TN), from_events(writer, TN))
    assert replays == [1]

    def rename(doc: dict[str, Any]) -> None:
        doc["last_activity_at"] = doc.pop("last_heard_at")

    monkeypatch.setitem(state_codec.UPCASTS, state_codec.FORMAT - 1, rename)
    assert_same(cold_load(reader, TN), from_events(writer, TN))
    assert replays == [1]  # read from the upcast row, not replayed
