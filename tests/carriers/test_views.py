"""Carrier updates in the views: applied one event at a time they give what
a rebuild from the whole log gives, on both stores."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from adapters.composition import build_runner, build_service, build_view_store
from adapters.settings import Settings
from projections.shipments import READ_MODEL as SHIPMENTS
from tests.builders import AGENT, HK_STO, TN, at, booking, scan
from tests.carriers.conftest import AGENT as AGENT_TOKEN, NOW, book, track
from tests.e2e.conftest import CARRIER
from tracking.links import TrackingLinks
from tracking.unitofwork import AggregateStore
from tracking.carrier import CarrierNote, Estimate, EstimateUpdate, Retraction
from tracking.codes import ScanEvent
from tracking.identifiers import Locode, TrackingNumber, shipment_id
from tracking.scan import Reported

RAW = Reported("dcsa", "e", "ARRI", "EST TRANSPORT event")
NEXT = TrackingNumber("1Z999AA10123456784")


def test_views_built_event_by_event_equal_a_rebuild(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    service = build_service(settings, clock=lambda: NOW)
    store = build_view_store(settings)
    runner = build_runner(settings, service, store)
    try:
        service.book(TN, booking(), HK_STO, AGENT)
        updates = [
            scan("LOADED", "HKHKG", 3, voyage="V100", scan_id="s-load"),
            EstimateUpdate(estimate_id="est", tracking_number=TN, reported=RAW, estimate=Estimate(
                event=ScanEvent.ARRIVED, location=Locode("SESTO"), expected_at=at(17))),
            CarrierNote(note_id="note", tracking_number=TN, occurred_at=at(4), reported=RAW),
        ]
        for update in updates:  # one at a time, as they would arrive
            service.record_updates([update], AGENT)
            runner.catch_up()
        handed = msgspec.structs.replace(scan("HANDED_OVER", "USLAX", 9, scan_id="s-hand"),
                                         new_tracking_number=NEXT)
        service.record_updates([handed], AGENT)
        service.record_updates([Retraction(retracted_id="s-load", tracking_number=NEXT,
                                           declared_at=at(5))], AGENT)
        runner.catch_up()
        sid, shipments = shipment_id(TN), store[SHIPMENTS]
        incremental = (shipments.public_view(sid), shipments.full_view(sid))
        assert b'"eta":"2009-03-17T00:00:00Z"' in incremental[0]  # type: ignore[operator]
        # retracted under the next carrier's number, found through the hand-over's link
        assert b'"event":"LOADED"' not in incremental[0]  # type: ignore[operator]
        assert b'"event":"HANDED_OVER"' in incremental[0]  # type: ignore[operator]
        runner.rebuild()
        assert (shipments.public_view(sid), shipments.full_view(sid)) == incremental
    finally:
        store.close()
        service.close()


def test_a_later_carrier_s_number_is_read_from_the_links_view_never_replayed(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    book(client, TN)
    r = client.post("/api/v1/scans", headers=CARRIER, json={
        "scan_id": "h-1", "tracking_number": TN, "event": "HANDED_OVER", "location": "HKHKG",
        "occurred_at": "2026-11-20T08:00:00+08:00", "new_tracking_number": NEXT})
    assert r.status_code == 201, r.text
    position = r.json()["position"]

    def replays(*_: Any) -> None:
        raise AssertionError("a read replayed an aggregate")

    monkeypatch.setattr(TrackingLinks, "linked", replays)
    monkeypatch.setattr(AggregateStore, "reconstruct", replays)
    assert track(client, NEXT, position)["tracking_number"] == TN
    full = client.get(f"/api/v1/shipments/{NEXT}", headers=AGENT_TOKEN)
    assert full.status_code == 200 and full.json()["tracking_number"] == TN
    assert client.get("/api/v1/track/JJD000390099").status_code == 404  # a miss: views only
