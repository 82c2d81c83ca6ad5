"""The journey's milestones and the planned window, judged from what the
tracking view says."""

from __future__ import annotations

from tracking.codes import ScanEvent, Status
from tracking.customs import CustomsStatus
from tracking.progress import Milestone, Seen, milestones, planned_window
from tests.builders import at

M = Milestone


def states(steps: list) -> dict[Milestone, str]:  # type: ignore[type-arg]
    return {s.milestone: "current" if s.current else "done" if s.reached else "todo"
            for s in steps}


def test_a_booked_parcel_not_yet_received_is_at_booked() -> None:
    got = states(milestones(Status.INFO_RECEIVED, "HKHKG", "SESTO", []))
    assert got[M.BOOKED] == "current" and got[M.RECEIVED] == "todo" and got[M.DELIVERED] == "todo"
    assert list(got) == list(Milestone)  # across a border: every step, customs too


def test_loaded_at_the_origin_has_not_left_it_yet_departing_has() -> None:
    events = [Seen(ScanEvent.RECEIVED, "HKHKG", at(2)), Seen(ScanEvent.LOADED, "HKHKG", at(3))]
    assert states(milestones(Status.IN_TRANSIT, "HKHKG", "SESTO", events))[M.RECEIVED] == "current"
    events.append(Seen(ScanEvent.DEPARTED, "HKHKG", at(3, 6)))
    steps = milestones(Status.IN_TRANSIT, "HKHKG", "SESTO", events)
    assert states(steps)[M.DEPARTED_ORIGIN] == "current"
    assert [s.at for s in steps if s.milestone is M.DEPARTED_ORIGIN] == [at(3, 6)]


def test_a_scan_elsewhere_implies_the_steps_before_it_even_if_missed() -> None:
    got = states(milestones(Status.IN_TRANSIT, "HKHKG", "SESTO",
                            [Seen(ScanEvent.ARRIVED, "SESTO", at(14))]))
    assert [got[m] for m in (M.BOOKED, M.RECEIVED, M.DEPARTED_ORIGIN)] == ["done"] * 3
    assert got[M.ARRIVED_DESTINATION_COUNTRY] == "current" and got[M.CUSTOMS] == "todo"


def test_held_by_customs_is_at_the_customs_step_and_released_passes_it() -> None:
    events = [Seen(ScanEvent.ARRIVED, "SESTO", at(14))]
    held = states(milestones(Status.CUSTOMS_HOLD, "HKHKG", "SESTO", events,
                             [("SE", CustomsStatus.HELD)]))
    assert held[M.ARRIVED_DESTINATION_COUNTRY] == "done" and held[M.CUSTOMS] == "current"
    released = states(milestones(Status.IN_TRANSIT, "HKHKG", "SESTO", events,
                                 [("SE", CustomsStatus.RELEASED)]))
    assert released[M.CUSTOMS] == "current"


def test_delivered_reaches_every_step_and_a_domestic_parcel_has_no_customs() -> None:
    steps = milestones(Status.DELIVERED, "SEGOT", "SESTO", [Seen(ScanEvent.DELIVERED, "SESTO", at(4))])
    assert M.CUSTOMS not in [s.milestone for s in steps]
    assert all(s.reached for s in steps) and steps[-1].current and steps[-1].at == at(4)


def test_the_planned_window_runs_from_the_eta_to_the_promised_date() -> None:
    assert planned_window(None, at(20)) is None
    w = planned_window(at(15), at(18))
    assert w is not None and (w.earliest, w.latest, w.late) == (at(15), at(18), False)
    late = planned_window(at(19), at(18))
    assert late is not None and (late.earliest, late.latest, late.late) == (at(18), at(19), True)
    alone = planned_window(at(15), None)
    assert alone is not None and alone.earliest == alone.latest == at(15)
