"""The shipments projection, in memory: views and exceptions as events come."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from projections.runner import ProjectionRunner
from projections.store import MemoryViewStore, ViewConflict
from tests.builders import AGENT, HK_STO, TN, TYO_HAM_STO, at, booking, scan
from tests.projection_support import snapshot
from tracking.application import ShipmentService
from tracking.identifiers import shipment_id


@pytest.fixture
def now() -> list:  # type: ignore[type-arg]
    return [at(1)]


@pytest.fixture
def app(now: list) -> ShipmentService:  # type: ignore[type-arg]
    return ShipmentService(clock=lambda: now[0])


def public(store: MemoryViewStore, tn: str = TN) -> dict:  # type: ignore[type-arg]
    return msgspec.json.decode(store.public_view(shipment_id(tn)))  # type: ignore[arg-type]


def full(store: MemoryViewStore, tn: str = TN) -> dict:  # type: ignore[type-arg]
    return msgspec.json.decode(store.full_view(shipment_id(tn)))  # type: ignore[arg-type]


def open_kinds(store: MemoryViewStore) -> list[str]:
    return [e.kind.value for e in store.exceptions(state="open", kind=None, limit=99, offset=0)]


def test_the_public_view_follows_the_scans_and_shows_no_personal_data(
    app: ShipmentService, now: list  # type: ignore[type-arg]
) -> None:
    now[0] = at(4)
    store = MemoryViewStore()
    runner = ProjectionRunner(app, store)
    app.record_scan(scan("RECEIVED", "HKHKG", 2))  # before booking: no view yet
    runner.catch_up()
    assert store.public_view(shipment_id(TN)) is None
    app.book(TN, booking(), HK_STO, AGENT)
    app.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100"))
    runner.catch_up()
    view = public(store)
    assert view["status"] == "IN_TRANSIT" and view["transport_status"] == "ONBOARD"
    assert view["current_voyage"] == "V100"
    assert view["next_expected"] == {"event": "UNLOADED", "location": "USLAX", "voyage": "V100"}
    assert [e["event"] for e in view["events"]] == ["RECEIVED", "LOADED"]
    assert view["events"][1]["description"] == "Loaded onto V100 at HKHKG"
    assert "recipient" not in view and "Astrid" not in str(view)
    agent = full(store)
    assert agent["recipient"]["name"] == "Astrid Lindgren"
    assert agent["version"] == 4
    assert store.position() == app.position()


def test_exceptions_are_raised_and_cleared_with_when_and_why(
    app: ShipmentService, now: list  # type: ignore[type-arg]
) -> None:
    store = MemoryViewStore()
    runner = ProjectionRunner(app, store)
    app.book(TN, booking(deliver_by=at(16)), HK_STO, AGENT)
    now[0] = at(6, 1)
    app.record_scans([
        scan("LOADED", "HKHKG", 3, voyage="V100"),
        scan("UNLOADED", "JPTYO", 6, voyage="V100"),
    ])
    runner.catch_up()
    [misdirected] = store.exceptions(state="open", kind=None, limit=9, offset=0)
    assert misdirected.kind == "MISDIRECTED"
    assert "UNLOADED at JPTYO on V100" in misdirected.details
    now[0] = at(7)
    app.reroute(TN, TYO_HAM_STO, AGENT)  # arrives on the 23rd, after deliver_by
    runner.catch_up()
    assert open_kinds(store) == ["LATE"]
    closed = store.exceptions(state="closed", kind=None, limit=9, offset=0)
    assert [(e.kind, e.cleared_at is not None) for e in closed] == [("MISDIRECTED", True)]
    assert "after deliver_by" in full(store)["exceptions"][0]["details"]
    now[0] = at(24)
    app.record_scan(scan("DELIVERY_ATTEMPTED", "SESTO", 23, 18, reason="ADDRESS_PROBLEM"))
    runner.catch_up()
    assert sorted(open_kinds(store)) == ["DELIVERY_ATTEMPTED", "LATE"]
    app.record_scan(scan("DELIVERED", "SESTO", 24))
    runner.catch_up()
    assert open_kinds(store) == []  # done: nothing needs attention


def test_a_quiet_shipment_is_flagged_stalled_and_the_next_scan_clears_it(
    app: ShipmentService, now: list  # type: ignore[type-arg]
) -> None:
    store = MemoryViewStore()
    runner = ProjectionRunner(app, store, stall_after=timedelta(hours=72))
    app.book(TN, booking(), HK_STO, AGENT)
    runner.catch_up()
    booked_at = app.get(TN).last_activity_at  # recorded time: the wall clock
    now[0] = booked_at + timedelta(hours=71)
    assert runner.check_stalled() == []
    now[0] = booked_at + timedelta(hours=73)
    assert runner.check_stalled() == [TN]
    assert runner.check_stalled() == []  # flagged once
    [stalled] = store.exceptions(state="open", kind="STALLED", limit=9, offset=0)
    assert booked_at.isoformat() in stalled.details
    assert type(app.history(TN)[-1]).__name__ == "StallDetected"
    app.record_scan(scan("RECEIVED", "HKHKG", 2))
    runner.catch_up()
    assert open_kinds(store) == []


def test_a_rebuild_equals_the_views_built_event_by_event(
    app: ShipmentService, now: list  # type: ignore[type-arg]
) -> None:
    incremental = MemoryViewStore()
    one_by_one = ProjectionRunner(app, incremental, batch_size=1)
    tns = [TN, "RR473124829US"]
    for tn in tns:
        app.book(tn, booking(), HK_STO, AGENT)
    now[0] = at(30)
    app.record_scans([scan("LOADED", "HKHKG", 3, voyage="V100", tn=tn) for tn in tns])
    one_by_one.catch_up()
    app.record_scans([scan("UNLOADED", "JPTYO", 6, voyage="V100", tn=tn) for tn in tns])
    app.reroute(TN, TYO_HAM_STO, AGENT)
    app.record_scans([scan("RECEIVED", "HKHKG", 2, tn=tn) for tn in tns])  # late, out of order
    one_by_one.catch_up()
    rebuilt = MemoryViewStore()
    assert ProjectionRunner(app, rebuilt, batch_size=500).rebuild() == app.position()
    assert snapshot(rebuilt, tns) == snapshot(incremental, tns)
    assert len(snapshot(rebuilt, tns)["exceptions"]) == 3  # two misdirected, one cleared


def test_a_second_runner_never_applies_an_event_twice(app: ShipmentService) -> None:
    store = MemoryViewStore()
    app.book(TN, booking(), HK_STO, AGENT)
    first, second = ProjectionRunner(app, store), ProjectionRunner(app, store)
    batch = [(app.mapper.to_domain_event(n), n.id) for n in app.recorder.select_notifications(1, 10)]
    first.projection.process_batch(batch, after=0)
    with pytest.raises(ViewConflict):
        second.projection.process_batch(batch, after=0)
    assert second.run_once() == 0 and store.position() == app.position()
