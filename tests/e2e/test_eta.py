"""The ETA endpoints end to end, on SQLite and PostgreSQL: a delivered
history on one lane, a lane model published, a new shipment's ETA from it
(eta_window source lanes, citing the model), its ETA history scored once
delivered, the accuracy over the lane; and a rebuild that reproduces every
ETA shown."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters import lanes
from adapters.composition import build_api
from adapters.history import HISTORY_LANES, HistoryPlanner, record
from adapters.http.app import Api, create_app
from adapters.settings import Settings
from tests.e2e.conftest import AGENT, MERCHANT, Clock

NOW = datetime.now(UTC).replace(microsecond=0)
AIR_LANE = HISTORY_LANES[1]  # HKHKG -> DEFRA -> SESTO, plans 30% optimistic


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    built = build_api(settings, clock=Clock(NOW))
    yield built


@pytest.fixture
def client(api: Api) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(api)) as c:
        yield c


def _history(api: Api, n: int, seed: int, days: int) -> list[Any]:
    planner = HistoryPlanner(seed, NOW, days, lanes=[AIR_LANE])
    planned = [planner.shipment() for _ in range(n)]
    for p in planned:
        record(api.service, p, NOW)
    return planned


def _caught_up(client: TestClient[Any], api: Api) -> int:
    position = api.service.position()
    assert client.get(f"/api/v1/eta/accuracy?min_position={position}", headers=AGENT).status_code == 200
    return position


def test_a_published_lane_model_gives_the_eta_its_window_and_is_scored(
    client: TestClient[Any], api: Api
) -> None:
    _history(api, 70, seed=11, days=60)
    _caught_up(client, api)
    assert lanes.publish(api.service) == 1
    # A shipment booked after the model: its plan-stage ETA comes from the lane.
    [new] = _history(api, 1, seed=12, days=0)  # delivered about ten days ago, recorded now
    tn = str(new.tracking_number)
    _caught_up(client, api)

    history = client.get(f"/api/v1/shipments/{tn}/eta-history", headers=MERCHANT)
    assert history.status_code == 200, history.text
    body = history.json()
    assert body["delivered_at"] is not None
    etas = body["etas"]
    assert etas[0]["source"] == "lanes"  # booked: the lane's plan stage has 70 deliveries
    for e in etas:  # a stage with fewer than 30 (a customs hold) falls back to the plan
        assert (e["model_version"], e["eta_window"]["confidence"]) == (
            (1, 0.8) if e["source"] == "lanes" else (None, None))
    assert all(e["score"] is not None and e["score"]["hours_out"] >= 0 for e in etas)
    view = client.get(f"/api/v1/track/{tn}").json()
    assert view["eta"] == view["delivered_at"] and view["eta_window"] is None

    accuracy = client.get("/api/v1/eta/accuracy?origin=HKHKG&destination=SESTO&mode=road",
                          headers=AGENT).json()
    assert accuracy["n"] >= 60 and set(accuracy["mae_hours"]) == {">7d", "3-7d", "1-3d", "<1d"}
    assert set(accuracy["by_source"]) == {"lanes", "plan"}
    assert accuracy["by_source"]["lanes"]["n"] == 1
    assert 0 <= accuracy["coverage"] <= 1
    none = client.get("/api/v1/eta/accuracy?carrier=nobody", headers=AGENT).json()
    assert none["n"] == 0 and none["coverage"] is None


def test_an_unfinished_shipment_shows_the_lane_window_and_the_view_rebuilds_the_same(
    client: TestClient[Any], api: Api
) -> None:
    _history(api, 70, seed=21, days=60)
    _caught_up(client, api)
    lanes.publish(api.service)
    planner = HistoryPlanner(22, NOW + timedelta(days=10), 0, lanes=[AIR_LANE])
    p = planner.shipment()  # booked about now: only its first scans have happened
    record(api.service, p, NOW)
    tn = str(p.tracking_number)
    _caught_up(client, api)
    view = client.get(f"/api/v1/track/{tn}").json()
    window = view["eta_window"]
    assert window["source"] == "lanes" and window["confidence"] == 0.8
    assert window["earliest"] <= view["eta"] <= window["latest"]
    before = (client.get(f"/api/v1/shipments/{tn}", headers=AGENT).json(),
              client.get(f"/api/v1/shipments/{tn}/eta-history", headers=AGENT).json())
    assert api.runner is not None
    api.runner.rebuild()
    after = (client.get(f"/api/v1/shipments/{tn}", headers=AGENT).json(),
             client.get(f"/api/v1/shipments/{tn}/eta-history", headers=AGENT).json())
    assert after == before


def test_eta_reads_refuse_what_cannot_be_right(client: TestClient[Any]) -> None:
    assert client.get("/api/v1/eta/accuracy").status_code == 401
    bad = client.get("/api/v1/eta/accuracy?origin=nowhere", headers=AGENT)
    assert bad.status_code in (400, 422) and "origin" in bad.text
    assert client.get("/api/v1/eta/accuracy?mode=boat", headers=AGENT).status_code in (400, 422)
    missing = client.get("/api/v1/shipments/LX123456785CN/eta-history", headers=AGENT)
    assert missing.status_code == 404


def test_a_view_built_straight_from_the_shipment_shows_the_eta_the_views_show(
    client: TestClient[Any], api: Api
) -> None:
    """A write's answer and ``as_of`` replay the shipment rather than read the
    view: they show the same lane ETA and window as the view, not the plan's."""
    _history(api, 70, seed=31, days=60)
    _caught_up(client, api)
    lanes.publish(api.service)
    planner = HistoryPlanner(32, NOW + timedelta(days=10), 0, lanes=[AIR_LANE])
    p = planner.shipment()
    record(api.service, p, NOW)
    tn = str(p.tracking_number)
    _caught_up(client, api)
    view = client.get(f"/api/v1/shipments/{tn}", headers=AGENT).json()
    assert view["eta_window"]["source"] == "lanes"
    as_of = datetime.now(UTC).isoformat()
    replayed = client.get(f"/api/v1/shipments/{tn}", params={"as_of": as_of}, headers=AGENT)
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["eta"], replayed.json()["eta_window"]) == (view["eta"], view["eta_window"])
