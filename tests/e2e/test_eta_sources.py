"""Carrier estimates scored like our lane model, the better source winning
each lane: on a lane whose carrier's estimates were closer to the deliveries
than the model, the view shows the carrier's ETA (``eta_window.source``
``carrier``); on one whose carrier's were worse, the model's (``lanes``).
The choice is in the published model event, so a rebuild shows the same."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters import lanes
from adapters.composition import build_api
from adapters.history import (
    HISTORY_LANES, SOURCE, HistoryLane, HistoryPlanner, Planned, record_steps)
from adapters.http.app import Api, create_app
from adapters.settings import Settings
from tests.e2e.conftest import AGENT, Clock
from tracking.carrier import Estimate, EstimateUpdate
from tracking.codes import ScanEvent
from tracking.eta.lanes import lane_of
from tracking.eta.model import ETA_MODEL_ID
from tracking.identifiers import Locode
from tracking.scan import Reported

NOW = datetime.now(UTC).replace(microsecond=0)
GOOD, BAD = HISTORY_LANES[1], HISTORY_LANES[2]  # HKHKG -> SESTO air, KRSEL -> USNYC air


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield build_api(settings, clock=Clock(NOW))


@pytest.fixture
def client(api: Api) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(api)) as c:
        yield c


def _with_estimate(api: Api, p: Planned, off_by: timedelta, now: datetime = NOW) -> None:
    """Booked, then the carrier's arrival estimate (the delivery ``off_by``), then what happened."""
    api.service.book(p.tracking_number, p.booking, p.route, SOURCE)
    estimate = Estimate(event=ScanEvent.ARRIVED, location=Locode(p.lane.destination),
                        expected_at=p.delivered_at + off_by)
    [outcome] = api.service.record_updates([EstimateUpdate(
        estimate_id=f"est-{p.tracking_number}", tracking_number=p.tracking_number,
        estimate=estimate, reported=Reported("dcsa", f"e-{p.tracking_number}", "ARRI", "EST"))],
        SOURCE)
    assert outcome.result.value == "recorded", outcome
    record_steps(api.service, p, now)


def _history(api: Api, lane: HistoryLane, seed: int, off_by: timedelta) -> None:
    planner = HistoryPlanner(seed, NOW, 60, lanes=[lane])
    for _ in range(40):
        _with_estimate(api, planner.shipment(), off_by)


def _view(client: TestClient[Any], api: Api, tn: str) -> dict[str, Any]:
    position = api.service.position()
    found = client.get(f"/api/v1/shipments/{tn}?min_position={position}", headers=AGENT)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def test_the_source_measured_better_on_a_lane_gives_its_eta(
    client: TestClient[Any], api: Api
) -> None:
    _history(api, GOOD, 31, timedelta(minutes=-30))  # within half an hour
    _history(api, BAD, 32, timedelta(days=4))  # four days late
    assert lanes.publish(api.service) == 1
    model = api.service.repository.get(ETA_MODEL_ID).latest
    fresh = {}
    for lane, seed, off_by in ((GOOD, 33, timedelta(minutes=-30)), (BAD, 34, timedelta(days=4))):
        p = HistoryPlanner(seed, NOW + timedelta(days=10), 0, lanes=[lane]).shipment()
        _with_estimate(api, p, off_by)  # booked about now: only its first scans happened
        fresh[lane] = str(p.tracking_number)
    good_lane = lane_of(api.service.get(fresh[GOOD]))
    assert good_lane is not None
    assert model.carrier_lanes == (good_lane.keys()[0],)  # recorded in the published event

    before = {lane: _view(client, api, tn) for lane, tn in fresh.items()}
    assert before[GOOD]["eta_window"]["source"] == "carrier"
    assert before[GOOD]["eta_window"]["confidence"] is None
    assert before[BAD]["eta_window"]["source"] == "lanes"
    assert before[BAD]["eta_window"]["confidence"] == 0.8
    assert api.runner is not None
    api.runner.rebuild()
    assert {lane: _view(client, api, tn) for lane, tn in fresh.items()} == before
