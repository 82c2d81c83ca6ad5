"""``tracking eta publish`` reads an event store that lists its streams a
chunk of shipments at a time (holding the fit's columns, not every
shipment): on SQLite it publishes the very model the in-memory store's
log-order reading gives for the same history, carrier lanes included."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters import lanes
from adapters.composition import build_service
from adapters.history import simulate_history
from adapters.settings import Settings
from projections.runner import StreamReader
from tracking.application import ShipmentService
from tracking.eta.model import ETA_MODEL_ID, EtaModel

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def published(service: ShipmentService) -> Any:
    simulate_history(service, 150, seed=9, days=120, now=NOW)
    lanes.publish(service, out=io.StringIO())
    [event] = [e for e in service.events.get(ETA_MODEL_ID) if isinstance(e, EtaModel.Published)]
    model = event.model()
    return model.deliveries, model.figures, model.carrier_lanes


def test_publishing_stream_by_stream_gives_the_model_of_the_log_read_in_order(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lanes, "CHUNK", 7)  # many chunks, shipments cut nowhere
    in_memory = ShipmentService()
    assert not isinstance(in_memory.recorder, StreamReader)
    on_sqlite = build_service(Settings.from_env(
        {"TRACKING_DATABASE_URL": f"sqlite:///{tmp_path}/log.db"}))
    assert isinstance(on_sqlite.recorder, StreamReader)
    deliveries, figures, carrier_lanes = published(on_sqlite)
    assert deliveries > 100 and figures
    assert published(in_memory) == (deliveries, figures, carrier_lanes)
