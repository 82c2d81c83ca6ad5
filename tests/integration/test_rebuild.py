"""A rebuild (stream by stream, rows copied into the emptied views, each
exception's casework folded in before it is written) gives the views that
the runner builds event batch by batch, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from projections import runner as runner_module
from projections.readmodel import Views
from projections.runner import ReadModelRunner
from projections.shipments import READ_MODEL as SHIPMENTS
from tests.builders import AGENT, TN, at, scan
from tests.integration.test_views import TNS, settings, store, traffic  # noqa: F401 - fixtures
from tests.projection_support import snapshot
from tracking.application import ShipmentService
from tracking.casework import casework
from tracking.identifiers import TrackingNumber


def worked_traffic(service: ShipmentService) -> None:
    """The shared traffic, and an exception worked by an agent (acknowledged,
    assigned, commented), then cleared by the next scan."""
    traffic(service)
    service.record_scan(scan("EXCEPTION", "JPTYO", 7, reason="DAMAGED"))
    for action, extra in (("acknowledge", {}), ("assign", {"assignee": "ana"}),
                          ("comment", {"text": "photos asked for"})):
        service.shipments.work_exception(TrackingNumber(TN), casework("DAMAGED", action, now=at(7, 1),
                                                            **extra), AGENT)
    service.record_scan(scan("LOADED", "JPTYO", 12, voyage="V400"))


@pytest.mark.parametrize("chunk", [1, runner_module.REBUILD_CHUNK])
def test_a_rebuild_equals_the_views_built_batch_by_batch(
    service: ShipmentService, store: Views, chunk: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    worked_traffic(service)
    ReadModelRunner(service, store, batch_size=3).catch_up()
    incremental = snapshot(store, TNS)
    closed = [e for e in incremental["exceptions"] if e.cleared_at is not None]
    assert any(e.kind.value == "DAMAGED" and e.assignee == "ana" and e.comments == 1
               and e.acknowledged_by == AGENT.id for e in closed)
    assert any(e.cleared_at is None for e in incremental["exceptions"])

    monkeypatch.setattr(runner_module, "REBUILD_CHUNK", chunk)
    assert ReadModelRunner(service, store).rebuild() == service.position()
    assert snapshot(store, TNS) == incremental
    # and the rebuilt views go on as incremental ones: a scan after it is applied
    service.record_scan(scan("LOADED", "HKHKG", 3, voyage="V100", tn=TNS[2]))
    ReadModelRunner(service, store).catch_up()
    assert store[SHIPMENTS].position() == service.position()
