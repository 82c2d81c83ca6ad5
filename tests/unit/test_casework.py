"""Casework in the domain and the exceptions view: checked before any event
is recorded; each piece an event with the agent as its source; a resolved
exception stays resolved while its condition goes on, also across batches
and in a rebuild; a new cause after the condition ended opens a new one."""

from __future__ import annotations

import pytest

from projections.runner import ReadModelRunner
from tests.builders import AGENT, HK_STO, TN, at, booking, scan
from tests.projection_support import snapshot
from tests.unit.test_projection import memory_views
from tracking.application import ShipmentService
from tracking.casework import ExceptionResolved, casework
from tracking.errors import InvalidInput
from tracking.identifiers import TrackingNumber


@pytest.mark.parametrize(("kind", "action", "extra", "field"), [
    ("NOPE", "acknowledge", {}, "kind"),
    ("DAMAGED", "dance", {}, "action"),
    ("DAMAGED", "assign", {"assignee": "  "}, "assignee"),
    ("DAMAGED", "comment", {}, "text"),
    ("DAMAGED", "snooze", {"until": at(1)}, "until"),
    ("DAMAGED", "snooze", {}, "until"),
])
def test_casework_that_cannot_be_right_names_its_field(
    kind: str, action: str, extra: dict, field: str  # type: ignore[type-arg]
) -> None:
    with pytest.raises(InvalidInput) as refused:
        casework(kind, action, now=at(2), **extra)
    assert refused.value.field == field


def test_resolved_stays_resolved_while_its_condition_goes_on_also_in_a_rebuild() -> None:
    now = [at(3)]
    app = ShipmentService(clock=lambda: now[0])
    views, store = memory_views()
    runner = ReadModelRunner(app, views, batch_size=1)
    app.book(TrackingNumber(TN), booking(), HK_STO, AGENT)
    app.record_scan(scan("EXCEPTION", "HKHKG", 2, reason="DAMAGED"))
    with pytest.raises(InvalidInput):  # not open: nothing recorded
        app.shipments.work_exception(TrackingNumber(TN), casework("LOST", "resolve", now=now[0]), AGENT)
    app.shipments.work_exception(TrackingNumber(TN), casework("DAMAGED", "resolve", now=now[0]), AGENT)
    runner.catch_up()
    app.record_scan(scan("EXCEPTION", "HKHKG", 2, 5, reason="DAMAGED"))  # the same condition
    runner.catch_up()
    assert store.exceptions(state="open", kind=None, limit=9, offset=0) == []
    app.record_scan(scan("RECEIVED", "HKHKG", 2, 6))  # the condition ends
    app.record_scan(scan("EXCEPTION", "HKHKG", 2, 7, reason="DAMAGED"))  # a new cause
    runner.catch_up()
    [new] = store.exceptions(state="open", kind=None, limit=9, offset=0)
    [resolved] = store.exceptions(state="closed", kind=None, limit=9, offset=0)
    assert resolved.resolved_by == AGENT.id and resolved.cleared_by == "ExceptionResolved"
    assert new.raised_at > resolved.raised_at and new.resolved_by is None
    assert sum(isinstance(e, ExceptionResolved) for e in app.history(TN)) == 1

    rebuilt, _ = memory_views()
    ReadModelRunner(app, rebuilt, batch_size=500).rebuild()
    assert snapshot(rebuilt, [TN]) == snapshot(views, [TN])
