"""The read models in memory: views and exceptions as events come, each
read model at its own position."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from projections.links import READ_MODEL as LINKS
from projections.readmodel import ViewConflict, Views
from projections.registry import READ_MODELS
from projections.runner import ReadModelRunner
from projections.shipments import READ_MODEL as SHIPMENTS, MemoryShipmentsView
from tests.builders import AGENT, HK_STO, TN, TYO_HAM_STO, at, booking, scan
from tests.projection_support import snapshot
from adapters.http.personal_data import open_recipient
from tracking.application import ShipmentService
from tracking.codes import ExceptionReason
from tracking.exceptions import REASON_KINDS
from tracking.identifiers import TrackingNumber, shipment_id


@pytest.fixture
def now() -> list:  # type: ignore[type-arg]
    return [at(1)]


@pytest.fixture
def app(now: list) -> ShipmentService:  # type: ignore[type-arg]
    return ShipmentService(clock=lambda: now[0])


def memory_views() -> tuple[Views, MemoryShipmentsView]:
    """Every read model's views in memory, and the shipments one's."""
    views = Views.in_memory(READ_MODELS)
    return views, views[SHIPMENTS]


def public(store: MemoryShipmentsView, tn: str = TN) -> dict:  # type: ignore[type-arg]
    return msgspec.json.decode(store.public_view(shipment_id(tn)))  # type: ignore[arg-type]


def full(store: MemoryShipmentsView, tn: str = TN) -> dict:  # type: ignore[type-arg]
    return msgspec.json.decode(store.full_view(shipment_id(tn)))  # type: ignore[arg-type]


def open_kinds(store: MemoryShipmentsView) -> list[str]:
    return [e.kind.value for e in store.exceptions(state="open", kind=None, limit=99, offset=0)]


def test_the_public_view_follows_the_scans_and_shows_no_personal_data(
    app: ShipmentService, now: list  # type: ignore[type-arg]
) -> None:
    now[0] = at(4)
    views, store = memory_views()
    runner = ReadModelRunner(app, views)
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
    # The agent's view keeps the recipient sealed; opened, it is the booked one.
    assert "Astrid" not in str(agent) and agent["recipient"]["form"] == "sealed"
    assert open_recipient(app.personal_data, shipment_id(TN), agent["recipient"]).name == (
        "Astrid Lindgren")
    assert agent["version"] == 4
    assert store.position() == app.position()


def test_exceptions_are_raised_and_cleared_with_when_and_why(
    app: ShipmentService, now: list  # type: ignore[type-arg]
) -> None:
    views, store = memory_views()
    runner = ReadModelRunner(app, views)
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
    app.shipments.reroute(TN, TYO_HAM_STO, AGENT)  # arrives on the 23rd, after deliver_by
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
    views, store = memory_views()
    runner = ReadModelRunner(app, views, stall_after=timedelta(hours=72))
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
    incremental, _ = memory_views()
    one_by_one = ReadModelRunner(app, incremental, batch_size=1)
    tns = [TN, "RR473124829US"]
    for tn in tns:
        app.book(tn, booking(), HK_STO, AGENT)
    now[0] = at(30)
    app.record_scans([scan("LOADED", "HKHKG", 3, voyage="V100", tn=tn) for tn in tns])
    one_by_one.catch_up()
    app.record_scans([scan("UNLOADED", "JPTYO", 6, voyage="V100", tn=tn) for tn in tns])
    app.shipments.reroute(TN, TYO_HAM_STO, AGENT)
    app.record_scans([scan("RECEIVED", "HKHKG", 2, tn=tn) for tn in tns])  # late, out of order
    one_by_one.catch_up()
    rebuilt, _ = memory_views()
    assert ReadModelRunner(app, rebuilt, batch_size=500).rebuild() == app.position()
    assert snapshot(rebuilt, tns) == snapshot(incremental, tns)
    assert len(snapshot(rebuilt, tns)["exceptions"]) == 3  # two misdirected, one cleared


def test_a_second_runner_never_applies_an_event_twice(app: ShipmentService) -> None:
    views = Views.in_memory([SHIPMENTS])
    store = views[SHIPMENTS]
    app.book(TN, booking(), HK_STO, AGENT)
    first, second = ReadModelRunner(app, views), ReadModelRunner(app, views)
    batch = [(app.mapper.to_domain_event(n), n.id) for n in app.recorder.select_notifications(1, 10)]
    first.projections["shipments"].process_batch(batch, after=0)
    with pytest.raises(ViewConflict):
        second.projections["shipments"].process_batch(batch, after=0)
    assert second.run_once() == 0 and store.position() == app.position()


def test_every_reason_an_exception_scan_gives_is_a_kind_the_exceptions_view_files(
    app: ShipmentService, now: list  # type: ignore[type-arg]
) -> None:
    views, store = memory_views()
    runner = ReadModelRunner(app, views)
    numbers = [f"JD0146000038283924{i:02d}" for i in range(len(ExceptionReason))]
    for tn, reason in zip(numbers, ExceptionReason, strict=True):
        app.book(tn, booking(), HK_STO, AGENT)
        app.record_scan(scan("EXCEPTION", "HKHKG", 1, reason=reason.value, tn=tn))
    runner.catch_up()
    filed = {(e.tracking_number, e.kind) for e in store.exceptions(
        state="open", kind=None, limit=99, offset=0)}
    assert filed == {(tn, REASON_KINDS[r]) for tn, r in zip(numbers, ExceptionReason, strict=True)}
    assert [REASON_KINDS[r].value for r in ExceptionReason] == [r.value for r in ExceptionReason]


def test_a_hand_over_s_new_number_is_written_to_the_links_view(app: ShipmentService) -> None:
    views, _ = memory_views()
    runner = ReadModelRunner(app, views)
    app.book(TN, booking(), HK_STO, AGENT)
    next_carrier = TrackingNumber("1Z999AA10123456784")
    app.record_scan(msgspec.structs.replace(scan("HANDED_OVER", "HKHKG", 1),
                                            new_tracking_number=next_carrier))
    runner.catch_up()
    assert views[LINKS].shipment_of(next_carrier) == TN
    assert views[LINKS].shipment_of(TN) is None and views[LINKS].position() == app.position()


def test_polling_and_stall_detection_ask_the_view_what_the_domain_answers(
    app: ShipmentService, now: list  # type: ignore[type-arg]
) -> None:
    views, store = memory_views()
    runner = ReadModelRunner(app, views, stall_after=timedelta(hours=1))
    moving, done, quiet = TN, "RR473124829US", "JJD000390007"
    for tn in (moving, done, quiet):
        app.book(tn, booking(), HK_STO, AGENT)
    app.record_scan(scan("RECEIVED", "HKHKG", 2, tn="CP000000005US"))  # never booked
    app.record_scan(scan("DELIVERED", "SESTO", 1, tn=done))
    now[0] = app.get(quiet).last_activity_at + timedelta(hours=2)
    assert app.shipments.flag_stalled([quiet], timedelta(hours=1)) == [quiet]
    app.record_scan(scan("RECEIVED", "HKHKG", 1, tn=moving))
    runner.catch_up()
    shipments = {tn: app.get(tn) for tn in (moving, done, quiet)}
    assert sorted(store.unfinished(10)) == sorted(
        tn for tn, s in shipments.items() if s.is_unfinished()) == [quiet, moving]
    assert store.quiet_since(now[0] + timedelta(days=1), 10) == [
        tn for tn, s in shipments.items() if s.may_stall()] == [moving]
