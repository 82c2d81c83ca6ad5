"""The window a tracking view shows without a lane model: from the ETA to
the promised date, saying whether the carrier's estimate or the plan gave
the ETA, with no confidence (nobody measured it); none once delivered."""

from __future__ import annotations

from tests.builders import AGENT, HK_STO, TN, at, booking, scan
from tests.unit.test_carrier_updates import estimate
from tracking.eta.model import shown_eta
from tracking.eta.window import EtaSource
from tracking.shipment import Shipment


def booked() -> Shipment:
    s = Shipment.open(TN, AGENT)
    s.book(booking(), HK_STO, AGENT)
    return s


def test_the_plan_and_then_the_carriers_estimate_give_the_window() -> None:
    s = booked()
    shown = shown_eta(s, s.delivery(), None)
    assert shown.eta == at(15) and shown.window is not None
    assert shown.window.source is EtaSource.PLAN and shown.window.confidence is None
    assert shown.window.earliest == at(15) and shown.window.latest == max(at(15), booking().deliver_by)
    s.record_estimate(estimate("SESTO", 17), AGENT)
    shown = shown_eta(s, s.delivery(), None)
    assert shown.eta == at(17) and shown.window is not None
    assert shown.window.source is EtaSource.CARRIER and shown.model_version is None


def test_once_delivered_the_eta_is_the_delivery_and_there_is_no_window() -> None:
    s = booked()
    s.record_scan(scan("DELIVERED", "SESTO", 16), AGENT, now=at(16))
    shown = shown_eta(s, s.delivery(), None)
    assert shown.eta == s.delivery().delivered_at and shown.window is None
