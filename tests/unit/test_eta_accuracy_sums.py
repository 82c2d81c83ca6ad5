"""The accuracy is answered from per-lane sums the ETA history view keeps as
shipments are delivered (a row per account, lane and source, not one per
shipment): they add up to what scoring every shipment's record gives, in
memory and in SQLite alike, lane filters included; and a delivery retracted
by its carrier takes that shipment's tally out again."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters import lanes
from adapters.history import Planned, simulate_history
from projections import etahistory
from projections.etahistory import EtaHistoryView
from projections.readmodel import Views
from projections.runner import ReadModelRunner
from projections.sql import SQLiteDatabase
from tracking.application import ShipmentService
from tracking.carrier import Retraction
from tracking.codes import SourceKind
from tracking.eta.accuracy import ALL, Accuracy, summarize
from tracking.scan import Source

NOW = datetime(2026, 12, 1, tzinfo=UTC)
CARRIER = Source(SourceKind.CARRIER, "dhl")


def simulated(shipments: int) -> tuple[ShipmentService, list[Planned]]:
    service = ShipmentService()
    planned = simulate_history(service, shipments, seed=3, days=120, now=NOW)
    lanes.publish(service, out=io.StringIO())
    planned += simulate_history(service, shipments, seed=4, days=60, now=NOW)
    return service, planned


@pytest.fixture(scope="module")
def history() -> tuple[ShipmentService, list[Planned]]:
    return simulated(120)


@pytest.fixture(params=["memory", "sqlite"])
def views(request: Any, tmp_path: Any) -> Iterator[Views]:
    models = [etahistory.READ_MODEL]
    if request.param == "memory":
        yield Views.in_memory(models)
    else:
        yield Views.on(SQLiteDatabase(str(tmp_path / "views.db")), models)


def expected(view: EtaHistoryView, planned: list[Planned], **lane: str) -> dict[str, Accuracy]:
    """Every delivered shipment's record scored afresh, by source and in all."""
    scored = []
    for p in planned:
        record = view.record(str(p.tracking_number))
        if record is not None and record.lane.matches(**{k: lane.get(k) for k in (
                "origin", "destination", "mode", "carrier")}):
            scored += [s for _, s in record.scored()]
    found = {ALL: summarize(scored)}
    for source in {s.source for s in scored}:
        found[source] = summarize([s for s in scored if s.source == source])
    return found


def answered(view: EtaHistoryView, **lane: str) -> dict[str, Accuracy]:
    sums = view.sums(**{k: lane.get(k) for k in ("origin", "destination", "mode", "carrier")})
    return {source: s.accuracy() for source, s in sums.items()}


def same(got: dict[str, Accuracy], want: dict[str, Accuracy]) -> None:
    assert set(got) == set(want)
    for source, w in want.items():
        g = got[source]
        assert (g.n, g.etas, g.coverage, g.late_recall) == (w.n, w.etas, w.coverage, w.late_recall)
        for bucket, mae in w.mae_hours.items():  # errors summed in milli-hours
            assert (mae is None) == (g.mae_hours[bucket] is None)
            assert mae is None or abs(g.mae_hours[bucket] - mae) <= 0.01  # type: ignore[operator]


def test_the_lane_sums_add_up_to_every_delivered_shipment_scored(
    history: tuple[ShipmentService, list[Planned]], views: Views
) -> None:
    service, planned = history
    ReadModelRunner(service, views).catch_up()
    view = views[etahistory.READ_MODEL]
    everything = expected(view, planned)
    assert everything[ALL].n > 100 and len(everything) >= 3  # all, plan, lanes (and carriers)
    same(answered(view), everything)
    lane = next(r.lane for r in map(view.record, (str(p.tracking_number) for p in planned))
                if r is not None and r.delivered_at is not None)
    one = {"origin": lane.origin, "destination": lane.destination, "mode": lane.mode.value}
    assert 0 < expected(view, planned, **one)[ALL].n < everything[ALL].n
    same(answered(view, **one), expected(view, planned, **one))
    same(answered(view, carrier="nobody"), {})


def test_a_retracted_delivery_takes_its_shipments_tally_out(views: Views) -> None:
    service, planned = simulated(60)
    runner = ReadModelRunner(service, views)
    runner.catch_up()
    view = views[etahistory.READ_MODEL]
    before = answered(view)[ALL].n
    delivered = [p for p in planned if p.delivered_at < NOW]
    retracted = delivered[:3]
    for p in retracted:
        last = p.steps[-1]
        assert not isinstance(last, tuple)
        service.record_updates([Retraction(retracted_id=last.scan_id,
                                           tracking_number=p.tracking_number,
                                           declared_at=NOW + timedelta(hours=1))], CARRIER)
    runner.catch_up()
    assert answered(view)[ALL].n == before - len(retracted)
    same(answered(view), expected(view, planned))
