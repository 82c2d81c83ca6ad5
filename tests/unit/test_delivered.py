"""Once delivered, the view says when, and the ETA is that time: never a
stale plan or estimate."""

from __future__ import annotations

from tests.builders import AGENT, HK_STO, TN, at, booking, plan, route, scan
from tracking.carrier import Estimate
from tracking.codes import ScanEvent, Status
from tracking.derivation import derive
from tracking.identifiers import Locode
from tracking.shipment import Shipment
from projections.views import shipment_view, tracking_view


def test_delivered_at_is_the_delivery_scan_s_time_and_the_eta_is_it() -> None:
    on_its_way = derive([plan(HK_STO)], [scan("UNLOADED", "SESTO", 15, 6, voyage="A300")])
    assert on_its_way.delivered_at is None and on_its_way.eta == at(15, 6)  # the arrival
    d = derive([plan(HK_STO)], [scan("UNLOADED", "SESTO", 15, 6, voyage="A300"),
                                scan("DELIVERED", "SESTO", 16, 11)])
    assert d.status is Status.DELIVERED
    assert d.delivered_at == at(16, 11) and d.eta == at(16, 11)


def test_a_carrier_s_estimate_after_the_delivery_does_not_bring_a_plan_back() -> None:
    late_estimate = Estimate(event=ScanEvent.ARRIVED, location=Locode("SESTO"),
                             expected_at=at(20))
    d = derive([plan(HK_STO)], [scan("DELIVERED", "SESTO", 16, 11)], estimates=[late_estimate])
    assert d.eta == at(16, 11)


def test_a_return_delivered_back_is_not_a_delivery() -> None:
    d = derive([plan(HK_STO)], [scan("RETURNED_TO_SENDER", "SESTO", 14),
                                scan("DELIVERED", "HKHKG", 20)])
    assert d.status is Status.RETURNED
    assert d.delivered_at is None and d.eta is None


def test_not_routed_the_eta_stays_null_and_delivered_at_says_when() -> None:
    d = derive([plan(route())], [scan("DELIVERED", "SESTO", 16)])
    assert d.eta is None and d.delivered_at == at(16)


def test_the_tracking_and_full_views_say_when_it_was_delivered() -> None:
    s = Shipment.open(TN, AGENT)
    s.book(booking(), HK_STO, AGENT)
    s.record_scan(scan("DELIVERED", "SESTO", 16, 11), AGENT, now=at(17))
    d = s.delivery()
    for view in (tracking_view(s, d), shipment_view(s, d, [])):
        assert view.delivered_at == at(16, 11) and view.eta == at(16, 11)
